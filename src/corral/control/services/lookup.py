"""The one way to find a row by what a user typed: its id, or its name where it has one.

Every `corral <thing> show REF` and every `/{ref}` path comes here, so the rules hold for all:
a row outside `where` (another user's, a deleted one) is `NotFound` exactly like a row that
never was, and an id always wins over a name because new names cannot look like ids
(`names.validate_name`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from sqlalchemy import ColumnElement, inspect, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import Base
from corral.errors import NotFound

__all__ = ["find_by_ref"]

Row = TypeVar("Row", bound=Base)


async def find_by_ref(
    db: AsyncSession,
    model: type[Row],
    ref: str,
    *,
    what: str,
    where: Iterable[ColumnElement[bool]] = (),
    by_name: bool = True,
) -> Row:
    """The `model` row whose id (or, with `by_name`, name) is `ref`, among those `where` allows;
    raises `NotFound` naming `what` and `ref`."""
    columns = inspect(model).columns
    match = columns["id"] == ref
    if by_name:
        match = or_(match, columns["name"] == ref)
    row = await db.scalar(select(model).where(match, *where))
    if row is None:
        raise NotFound(f"no {what} named {ref!r}" if by_name else f"no {what} {ref!r}")
    return row
