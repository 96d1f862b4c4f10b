"""The failures a test injects into the fake Hetzner API (tests/support/hetzner_api.py), and
what it records of the requests it got."""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import threading
from dataclasses import dataclass

__all__ = ["HOLD_LIMIT_SECONDS", "HeldCreate", "Injection", "RecordedRequest"]

HOLD_LIMIT_SECONDS = 600.0
"""The longest a held create waits for the test to release it."""


@dataclass
class RecordedRequest:
    method: str
    path: str
    """After /v1."""
    query: str
    status: int | None = None
    """None until it is answered (a hanging or held request is recorded when it comes)."""


@dataclass
class Injection:
    """What the next `remaining` requests matching `method` and `pattern` (fnmatch, on the
    path after /v1) get: an error (`fail`), a 429 (`rate_limit`) or a `hang`."""

    method: str
    pattern: str
    remaining: int
    kind: str
    status: int = 503
    code: str | None = None
    message: str = ""
    text: str | None = None
    seconds: float = 0.0
    after: bool = False

    def matches(self, method: str, path: str) -> bool:
        return fnmatch.fnmatchcase(method, self.method) and fnmatch.fnmatchcase(path, self.pattern)


class HeldCreate:
    """A POST /servers held after the server was recorded, before its answer is sent."""

    def __init__(self) -> None:
        self._held = threading.Event()
        self._released = threading.Event()
        self._wake: tuple[asyncio.AbstractEventLoop, asyncio.Event] | None = None
        self.server_id: int | None = None

    def wait(self, wait_seconds: float = 30.0) -> int:
        """Block until a create is held; the id of the server it recorded."""
        if not self._held.wait(wait_seconds):
            raise AssertionError(f"no POST /servers was held within {wait_seconds:g} s")
        assert self.server_id is not None
        return self.server_id

    async def wait_async(self, wait_seconds: float = 30.0) -> int:
        return await asyncio.to_thread(self.wait, wait_seconds)

    def release(self) -> None:
        """Let the answer go (to a client that may be gone)."""
        self._released.set()
        if self._wake is not None:
            loop, event = self._wake
            with contextlib.suppress(RuntimeError):  # the API's loop has ended
                loop.call_soon_threadsafe(event.set)

    async def hold(self, server_id: int) -> None:
        """Called by the API, in its loop, once the server is recorded: wait, at most
        HOLD_LIMIT_SECONDS, for `release`."""
        event = asyncio.Event()
        self._wake = (asyncio.get_running_loop(), event)
        self.server_id = server_id
        self._held.set()
        if not self._released.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), HOLD_LIMIT_SECONDS)

    @property
    def held(self) -> bool:
        return self._held.is_set()
