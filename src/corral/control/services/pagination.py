"""Cursor pagination over id-ordered lists, newest first.

The cursor is the last id of the previous page, wrapped so clients treat it as opaque. Ids sort by
creation (see `corral.ids`), so a page is stable while new rows arrive at the front.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
from collections.abc import Sequence
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from corral.errors import InvalidInput

__all__ = ["decode_cursor", "encode_cursor", "paginate"]

T = TypeVar("T")


def encode_cursor(value: str | int) -> str:
    return base64.urlsafe_b64encode(json.dumps([value]).encode()).decode().rstrip("=")


MAX_INT_CURSOR = 2**63 - 1


def decode_cursor(cursor: str, kind: type[str] | type[int] = str) -> str | int:
    """The value in a cursor, which must be of the list key's type (`kind`)."""
    value: object = None
    with contextlib.suppress(binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        padded = cursor + "=" * (-len(cursor) % 4)
        (value,) = json.loads(base64.urlsafe_b64decode(padded.encode()))
    if isinstance(value, str) and kind is str:
        return value
    if (
        isinstance(value, int)
        and not isinstance(value, bool)
        and kind is int
        and 0 <= value <= MAX_INT_CURSOR
    ):
        return value
    raise InvalidInput(
        "the cursor is not valid; use the next_cursor of a previous page",
        reason="invalid_cursor",
        details=[{"field": "query.cursor"}],
    )


async def paginate(
    db: AsyncSession,
    statement: Select[T],
    key: InstrumentedAttribute[Any],
    *,
    limit: int,
    cursor: str | None,
) -> tuple[Sequence[T], str | None]:
    """Run `statement` for one page, newest first by `key`; return its rows and the next cursor."""
    if cursor is not None:
        kind = int if key.type.python_type is int else str
        statement = statement.where(key < decode_cursor(cursor, kind))
    rows = (await db.scalars(statement.order_by(key.desc()).limit(limit + 1))).all()
    if len(rows) <= limit:
        return rows, None
    page = rows[:limit]
    return page, encode_cursor(getattr(page[-1], key.key))
