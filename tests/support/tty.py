"""A command on a real pseudo-terminal, as a person at a terminal runs it: for the CLI's
interactive parts (`corral workspace shell`, permission questions in `corral session prompt`).
`ptyprocess` (pexpect's) makes the terminal; this adds reads bounded in time."""

from __future__ import annotations

import contextlib
import os
import select
import signal
import time
from collections.abc import Sequence

from ptyprocess import PtyProcess  # type: ignore[import-untyped]

from tests.support.waits import eventually_sync

__all__ = ["Tty"]

READ_BYTES = 65536
STOP_SECONDS = 10.0


class Tty:
    """`argv` on a new PTY; `output` is everything it printed so far."""

    def __init__(self, argv: Sequence[str], env: dict[str, str], *, cols: int = 120) -> None:
        self.process = PtyProcess.spawn(list(argv), env=env, dimensions=(40, cols))
        self.output = bytearray()

    def _read(self, wait_seconds: float) -> bool:
        ready, _, _ = select.select([self.process.fd], [], [], max(0.0, wait_seconds))
        if not ready:
            return False
        try:
            chunk = os.read(self.process.fd, READ_BYTES)
        except OSError:  # EIO: the program ended and the terminal closed
            return False
        self.output += chunk
        return bool(chunk)

    def expect(self, marker: bytes, wait_seconds: float, *, start: int = 0) -> int:
        """Read until `marker` appears after `start` in the output; return the index past it."""
        deadline = time.monotonic() + wait_seconds
        while (found := self.output.find(marker, start)) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (not self._read(min(remaining, 1.0)) and not self.alive):
                if (found := self.output.find(marker, start)) >= 0:
                    break
                raise AssertionError(
                    f"{marker!r} did not appear within {wait_seconds:g} s; the last output:\n"
                    f"{self.text()[-3000:]}"
                )
        return found + len(marker)

    def send(self, text: str) -> None:
        self.process.write(text.encode())

    @property
    def alive(self) -> bool:
        return bool(self.process.isalive())

    def wait_exit(self, wait_seconds: float) -> int:
        """Read until the program exits; return its exit status."""

        def exited() -> bool:
            self._read(0.2)  # what it prints meanwhile; returns as soon as there is some
            return not self.alive

        eventually_sync(
            exited,
            "the program's exit",
            wait_seconds=wait_seconds,
            interval=0,
            context=lambda: f"its last output:\n{self.text()[-3000:]}",
        )
        while self._read(0.05):
            pass
        status = self.process.exitstatus
        return int(status) if status is not None else 128 + int(self.process.signalstatus or 0)

    def interrupt(self) -> None:
        """Ctrl-C, as typed."""
        self.process.write(b"\x03")

    def text(self) -> str:
        return self.output.decode(errors="replace")

    def close(self) -> None:
        """Stop the program by its PID if it still runs, and close the terminal."""
        if self.alive:
            os.kill(self.process.pid, signal.SIGTERM)
            with contextlib.suppress(AssertionError):  # then SIGKILL
                eventually_sync(
                    lambda: not self.alive, "the program's exit", wait_seconds=STOP_SECONDS
                )
            if self.alive:
                os.kill(self.process.pid, signal.SIGKILL)
        self.process.close(force=True)
