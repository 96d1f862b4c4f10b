"""One way for a test to wait for the system to get somewhere: `eventually`.

`await eventually(check, "what is awaited")` calls `check` until it passes and returns what it
returned. A check has passed when it returns anything but None or False; it has not passed yet
when it returns None or False or raises AssertionError. So a check can be a predicate
(`lambda: state() == "running"`), a finder (`lambda: next(iter(found()), None)`) or a few
asserts that end in `return True`. Any other exception ends the wait at once, and so does
`pytest.fail`: that is how a check says the awaited thing can no longer happen (the process
exited, the session ended in error) or an invariant that must hold on every round broke.

The first pauses between checks are short (1 ms, doubling up to `interval`), so a condition in
the test's own process is seen as soon as it holds, while a check that asks a server is not run
in a tight loop. The check always runs at least once, and once more at the deadline. If it has
not passed by then, the wait raises AssertionError naming what was awaited, with the last
failure (chained) or the last value, and `context()`: a log tail, say, computed only then.

`eventually` is for async tests: it sleeps without blocking the event loop, a check may be a
coroutine function, and one that does not finish is cut off a second past the deadline.
`eventually_sync` is its twin for sync tests and helpers, which block anyway.

`Gate` is for the other side: a shell command the test runs (through an agent, a terminal) that
must still be running when the test looks waits at a gate the test opens, rather than sleeping
for a while that a busy machine may outlast.
"""

from __future__ import annotations

import asyncio
import errno
import inspect
import os
import shlex
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar, overload

__all__ = [
    "INTERVAL_SECONDS",
    "WAIT_SECONDS",
    "Context",
    "Gate",
    "eventually",
    "eventually_sync",
]

WAIT_SECONDS = 30.0
"""How long a wait takes before it fails, unless the caller says otherwise."""
INTERVAL_SECONDS = 0.05
"""The longest pause between two checks."""
_FIRST_PAUSE_SECONDS = 0.001
_GRACE_SECONDS = 1.0
"""How far past the deadline an async check that has not finished is cut off."""
_SHOWN_CHARS = 2000

T = TypeVar("T")
Context = Callable[[], str]


class _Rounds:
    """What both twins keep between checks: the deadline, the next pause, the last failure."""

    def __init__(self, what: str, wait_seconds: float, interval: float, context: Context | None):
        self.what = what
        self.wait_seconds = wait_seconds
        self.deadline = time.monotonic() + wait_seconds
        self.interval = interval
        self.pause = min(_FIRST_PAUSE_SECONDS, interval)
        self.context = context
        self.last_value: object = None
        self.last_error: BaseException | None = None

    def failed(self, error: BaseException) -> None:
        self.last_value, self.last_error = None, error

    def returned(self, value: object) -> None:
        """A value that did not pass (None or False), kept for the report."""
        self.last_value, self.last_error = value, None

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def next_pause(self) -> float | None:
        """How long to sleep before the next check; None when time is up."""
        remaining = self.remaining()
        if remaining <= 0:
            return None
        pause = min(self.pause, remaining)
        self.pause = min(self.pause * 2, self.interval)
        return pause

    def timed_out(self) -> AssertionError:
        if self.last_error is not None:
            last = f"the last check failed: {self.last_error}"
        else:
            last = f"the last check returned {self.last_value!r}"
        report = f"{self.what}: not within {self.wait_seconds:g} s; {last[:_SHOWN_CHARS]}"
        if self.context is not None:
            try:
                report += f"\n{self.context()}"
            except Exception as exc:  # a dead server cannot say more; the wait's report stands
                report += f"\n(no context: {exc!r})"
        return AssertionError(report)


@overload
async def eventually(
    check: Callable[[], Awaitable[T | None]],
    what: str,
    *,
    wait_seconds: float = ...,
    interval: float = ...,
    context: Context | None = ...,
) -> T: ...


@overload
async def eventually(
    check: Callable[[], T | None],
    what: str,
    *,
    wait_seconds: float = ...,
    interval: float = ...,
    context: Context | None = ...,
) -> T: ...


async def eventually(
    check: Callable[[], object],
    what: str,
    *,
    wait_seconds: float = WAIT_SECONDS,
    interval: float = INTERVAL_SECONDS,
    context: Context | None = None,
) -> object:
    """Await `check` passing (see the module's docstring) and return what it returned."""
    rounds = _Rounds(what, wait_seconds, interval, context)
    while True:
        try:
            value = check()
            if inspect.isawaitable(value):
                value = await _finished(value, rounds.remaining() + _GRACE_SECONDS)
        except AssertionError as exc:
            rounds.failed(exc)
        else:
            if value is not None and value is not False:
                return value
            rounds.returned(value)
        pause = rounds.next_pause()
        if pause is None:
            raise rounds.timed_out() from rounds.last_error
        await asyncio.sleep(pause)


async def _finished(awaitable: Awaitable[object], seconds: float) -> object:
    """What `awaitable` gives, or AssertionError (a failed check) if it takes over `seconds`."""
    try:
        async with asyncio.timeout(max(seconds, 0.0)) as scope:
            return await awaitable
    except TimeoutError:
        if scope.expired():
            raise AssertionError(f"the check did not finish in {seconds:g} s") from None
        raise


def eventually_sync(
    check: Callable[[], T | None],
    what: str,
    *,
    wait_seconds: float = WAIT_SECONDS,
    interval: float = INTERVAL_SECONDS,
    context: Context | None = None,
) -> T:
    """`eventually` for sync code: the same rules, sleeping between checks."""
    rounds = _Rounds(what, wait_seconds, interval, context)
    while True:
        try:
            value = check()
        except AssertionError as exc:
            rounds.failed(exc)
        else:
            if value is not None and value is not False:
                return value
            rounds.returned(value)
        pause = rounds.next_pause()
        if pause is None:
            raise rounds.timed_out() from rounds.last_error
        time.sleep(pause)


class Gate:
    """A named pipe that a shell command waits at (`command` reads from it) until the test
    calls `open`. The command must run as a user that can read `path`."""

    def __init__(self, path: Path) -> None:
        os.mkfifo(path, 0o600)
        self.path = path

    @property
    def command(self) -> str:
        """The shell command that waits at the gate: it returns once the gate opens."""
        return f"read gate < {shlex.quote(str(self.path))}"

    def open(self, wait_seconds: float = WAIT_SECONDS) -> None:
        """Let the command through, once it is waiting (it may not have got there yet)."""

        def let_through() -> bool:
            try:
                fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as exc:
                if exc.errno == errno.ENXIO:  # nothing reads the pipe yet
                    return False
                raise
            try:
                os.write(fd, b"open\n")
            finally:
                os.close(fd)
            return True

        eventually_sync(let_through, f"a command waiting at {self.path}", wait_seconds=wait_seconds)
