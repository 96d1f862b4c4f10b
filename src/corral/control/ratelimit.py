"""Counting failed sign-in attempts per client address, to slow down guessing.

In memory and per process: a restart forgets the counts, which is acceptable for a limit whose job
is to make guessing a 256-bit link hopeless, not to keep an audit trail.
"""

from __future__ import annotations

import math
import time
from collections import deque

from corral.errors import RateLimited

__all__ = ["AttemptLimiter"]

_MAX_TRACKED_CLIENTS = 10_000


class AttemptLimiter:
    def __init__(self, attempts: int, window_seconds: float) -> None:
        self.attempts = attempts
        self.window_seconds = window_seconds
        self._failures: dict[str, deque[float]] = {}

    def check(self, client: str) -> None:
        """Raise `RateLimited` if `client` has used up its failed attempts for the window."""
        failures = self._failures.get(client)
        if failures is None:
            return
        self._forget_old(failures)
        if len(failures) >= self.attempts:
            retry_after = math.ceil(failures[0] + self.window_seconds - time.monotonic())
            raise RateLimited(
                f"too many failed sign-in attempts; try again in {max(retry_after, 1)} s",
                retry_after_seconds=max(retry_after, 1),
            )

    def fail(self, client: str) -> None:
        if len(self._failures) >= _MAX_TRACKED_CLIENTS:
            self._failures.pop(next(iter(self._failures)))
        self._recent(client).append(time.monotonic())

    def _recent(self, client: str) -> deque[float]:
        failures = self._failures.setdefault(client, deque())
        self._forget_old(failures)
        return failures

    def _forget_old(self, failures: deque[float]) -> None:
        cutoff = time.monotonic() - self.window_seconds
        while failures and failures[0] <= cutoff:
            failures.popleft()
