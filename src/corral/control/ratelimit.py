"""Counting failed sign-in attempts per client address, to slow down guessing.

The failures are rows in the database, so every control plane replica counts the same ones:
an attacker spreading guesses over replicas gets no more of them. A row lives only as long as
the window it counts in.
"""

from __future__ import annotations

import math
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.models import SignInFailure
from corral.errors import RateLimited

__all__ = ["AttemptLimiter"]

MAX_CLIENT_CHARS = 128


class AttemptLimiter:
    def __init__(self, attempts: int, window_seconds: float) -> None:
        self.attempts = attempts
        self.window_seconds = window_seconds

    async def check(self, db: AsyncSession, client: str) -> None:
        """Raise `RateLimited` if `client` has used up its failed attempts for the window."""
        now = utcnow()
        count, first = (
            await db.execute(
                select(func.count(), func.min(SignInFailure.at)).where(
                    SignInFailure.client == client[:MAX_CLIENT_CHARS],
                    SignInFailure.at > now - timedelta(seconds=self.window_seconds),
                )
            )
        ).one()
        if count >= self.attempts and first is not None:
            left = (first - now).total_seconds() + self.window_seconds
            retry_after = max(math.ceil(left), 1)
            raise RateLimited(
                f"too many failed sign-in attempts; try again in {retry_after} s",
                retry_after_seconds=retry_after,
            )

    async def fail(self, db: AsyncSession, client: str) -> None:
        """Count a failed attempt. It rolls back what the attempt wrote first: a failed sign-in
        leaves nothing behind but its count."""
        await db.rollback()
        now = utcnow()
        await db.execute(
            delete(SignInFailure).where(
                SignInFailure.at <= now - timedelta(seconds=self.window_seconds)
            )
        )
        db.add(SignInFailure(client=client[:MAX_CLIENT_CHARS], at=now))
        await db.commit()
