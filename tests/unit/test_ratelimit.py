import pytest

from corral.control.ratelimit import AttemptLimiter
from corral.errors import RateLimited


def test_failures_past_the_limit_are_refused_per_client():
    limiter = AttemptLimiter(attempts=3, window_seconds=60)
    for _ in range(3):
        limiter.check("10.0.0.1")
        limiter.fail("10.0.0.1")
    with pytest.raises(RateLimited) as caught:
        limiter.check("10.0.0.1")
    assert 1 <= caught.value.retry_after_seconds <= 60
    limiter.check("10.0.0.2")


def test_old_failures_leave_the_window(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr("corral.control.ratelimit.time.monotonic", lambda: now[0])
    limiter = AttemptLimiter(attempts=1, window_seconds=10)
    limiter.fail("c")
    with pytest.raises(RateLimited):
        limiter.check("c")
    now[0] += 10.5
    limiter.check("c")
