from datetime import timedelta

import pytest
from fastapi import FastAPI

from corral.control.db.base import utcnow
from corral.control.ratelimit import AttemptLimiter
from corral.errors import RateLimited
from tests.support.api import app_state


class _Limiter:
    """An `AttemptLimiter` whose calls each open a database session, as each request has one."""

    def __init__(self, app: FastAPI, attempts: int, window_seconds: float) -> None:
        self._db = app_state(app).db
        self._limiter = AttemptLimiter(attempts=attempts, window_seconds=window_seconds)

    async def check(self, client: str) -> None:
        async with self._db() as db:
            await self._limiter.check(db, client)

    async def fail(self, client: str) -> None:
        async with self._db() as db:
            await self._limiter.fail(db, client)


def _limiter(app: FastAPI, attempts: int, window_seconds: float) -> _Limiter:
    return _Limiter(app, attempts, window_seconds)


async def test_failures_past_the_limit_are_refused_per_client(app: FastAPI) -> None:
    limiter = _limiter(app, attempts=3, window_seconds=60)
    for _ in range(3):
        await limiter.check("10.0.0.1")
        await limiter.fail("10.0.0.1")
    with pytest.raises(RateLimited) as caught:
        await limiter.check("10.0.0.1")
    assert 1 <= caught.value.retry_after_seconds <= 60
    await limiter.check("10.0.0.2")


async def test_every_limiter_on_the_database_counts_the_same_failures(app: FastAPI) -> None:
    """Two replicas share the count: guesses spread over them get no more tries."""
    first, second = _limiter(app, 2, 60), _limiter(app, 2, 60)
    await first.fail("c")
    await second.fail("c")
    with pytest.raises(RateLimited):
        await first.check("c")


async def test_old_failures_leave_the_window(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [utcnow()]
    monkeypatch.setattr("corral.control.ratelimit.utcnow", lambda: now[0])
    limiter = _limiter(app, attempts=1, window_seconds=10)
    await limiter.fail("c")
    with pytest.raises(RateLimited):
        await limiter.check("c")
    now[0] += timedelta(seconds=10.5)
    await limiter.check("c")
