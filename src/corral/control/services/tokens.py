"""Secret tokens: how they are made, and the one-way hash under which they are stored.

Tokens carry 256 random bits, so a plain SHA-256 is a safe store (no password-style stretching is
needed) and lets a lookup find the row by its hash in one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.errors import Unauthenticated

__all__ = ["hash_token", "new_token", "redeem_single_use"]


def new_token(prefix: str) -> str:
    """A new secret such as `crl_…`; the prefix tells people and secret scanners what it is."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def redeem_single_use(
    db: AsyncSession, model: Any, token: str, *, what: str, remedy: str, reason: str
) -> Any:
    """Use up a single-use token (a login link, a join token) and return its row.

    One conditional UPDATE claims it, so of several requests racing with the same token exactly
    one wins: the database re-checks `used_at IS NULL` under its row lock. A token that cannot
    be used raises `Unauthenticated` saying whether it is unknown, used, revoked or expired,
    with reasons `<reason>_invalid`, `<reason>_used`, `<reason>_revoked`, `<reason>_expired`.
    The caller commits.
    """
    token_hash = hash_token(token)
    now = utcnow()
    result = await db.execute(
        update(model)
        .where(
            model.token_hash == token_hash,
            model.used_at.is_(None),
            model.revoked_at.is_(None),
            model.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    row = await db.scalar(select(model).where(model.token_hash == token_hash))
    if row is None:
        raise Unauthenticated(f"this {what} is not valid", reason=f"{reason}_invalid")
    if getattr(result, "rowcount", 0) != 1:
        # Read before the rollback expires the row.
        if row.used_at is not None:
            problem, outcome = "has already been used", "used"
        elif row.revoked_at is not None:
            problem, outcome = "has been revoked", "revoked"
        else:
            problem, outcome = "has expired", "expired"
        await db.rollback()
        raise Unauthenticated(f"this {what} {problem}; {remedy}", reason=f"{reason}_{outcome}")
    return row
