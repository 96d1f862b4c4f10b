"""A program on a pseudo-terminal, driven from asyncio: read, write, resize, terminate.

Written by hand because no maintained library does this for asyncio: `ptyprocess` (pexpect's)
is blocking, and runs Python in the child after `os.fork`, which is unsafe once the node runs
threads. The standard library has every piece (`os.openpty`, `termios`, `loop.add_reader`), so
this module only puts them together and adds what a long-lived terminal needs: bounded pending
input, and a terminate that reaches every process the terminal started, not just the first one
(a shell's background jobs live in process groups of their own).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import functools
import logging
import os
import signal
import struct
import subprocess
import sys
import termios
from typing import NamedTuple

from corral.errors import InvalidInput
from corral.node.priority import lower_priority
from corral.node.runtimes.base import ProcessSpec, RuntimeError_
from corral.processes import kill_marked

__all__ = [
    "DEFAULT_MAX_PENDING_INPUT_BYTES",
    "READ_CHUNK_BYTES",
    "InputOverflow",
    "PtyProcess",
]

logger = logging.getLogger(__name__)

READ_CHUNK_BYTES = 64 * 1024
DEFAULT_MAX_PENDING_INPUT_BYTES = 1024 * 1024
DEFAULT_EXIT_DRAIN_SECONDS = 1.0
# Once the program has exited, a leftover background process may still hold the terminal open
# (so no EOF comes). Output still in flight is read for this long, and at most this much of it.
_EXIT_DRAIN_MAX_BYTES = 1024 * 1024
_POLL_SECONDS = 0.05
_KILL_WAIT_SECONDS = 2.0
_MAX_WINDOW = 0xFFFF
_HAVE_PROC = sys.platform.startswith("linux") and os.path.isdir("/proc")


class InputOverflow(InvalidInput):
    """More input is waiting for the program to read it than the pending limit allows."""

    reason = "input_overflow"


class _Stat(NamedTuple):
    state: str
    session: int
    start_ticks: int


def _read_stat(pid: int) -> _Stat | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            raw = file.read()
        # The command name may hold spaces and parentheses; the fields start after the last ')'.
        fields = raw[raw.rindex(b")") + 2 :].split()
        return _Stat(fields[0].decode(), int(fields[3]), int(fields[19]))
    except (OSError, ValueError, IndexError):
        return None


def _uptime_ticks() -> int | None:
    """Now, in the clock ticks since boot that /proc/PID/stat gives start times in."""
    if not _HAVE_PROC:
        return None
    try:
        with open("/proc/uptime", "rb") as file:
            seconds = float(file.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return int(seconds * os.sysconf("SC_CLK_TCK")) - 1  # -1: /proc/uptime is rounded


def _acquire_controlling_tty(slave: int, nice: int) -> None:
    # Runs in the child between fork and exec: start a session and make the PTY slave its
    # controlling terminal, which is what job control (Ctrl-C, Ctrl-Z, `fg`) needs. subprocess
    # offers no option for it. It names the slave by its own fd rather than stdin, and makes
    # the session itself, because uvloop (which the node daemon runs on) calls this before it
    # has set up stdin, and has no `start_new_session` step of its own before it.
    os.setsid()
    fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
    lower_priority(nice)


def _set_window(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


class PtyProcess:
    """One program on its own PTY, in its own session. Use `start` to make one.

    `read` returns output (b"" once the program is gone), `write` queues input without ever
    blocking, and `terminate` ends the program and everything it started. The master file
    descriptor is closed exactly once, by `close`.
    """

    def __init__(
        self,
        process: asyncio.subprocess.Process,
        master_fd: int,
        *,
        max_pending_input_bytes: int,
        exit_drain_seconds: float,
        start_ticks: int | None,
    ) -> None:
        self._process = process
        self._fd = master_fd
        self.marker: str | None = None
        """Set for a program whose processes run where its session cannot reach (a container):
        `terminate` ends what carries it too (see `ProcessSpec.marker`)."""
        self._max_pending = max_pending_input_bytes
        self._exit_drain_seconds = exit_drain_seconds
        self._pending = bytearray()
        self._writing = False
        self._closed = False
        self._read_waiter: asyncio.Future[None] | None = None
        self._watching = False
        self._drained_after_exit = 0
        self._loop = asyncio.get_running_loop()
        self._start_ticks = start_ticks
        self._exit_task = asyncio.create_task(process.wait(), name=f"pty {process.pid} wait")
        self._exit_task.add_done_callback(lambda _: self._wake_reader())

    @classmethod
    async def start(
        cls,
        spec: ProcessSpec,
        *,
        cols: int,
        rows: int,
        max_pending_input_bytes: int = DEFAULT_MAX_PENDING_INPUT_BYTES,
        exit_drain_seconds: float = DEFAULT_EXIT_DRAIN_SECONDS,
    ) -> PtyProcess:
        """Start `spec` on a new PTY of `cols` x `rows`, as leader of a new session with the PTY
        as its controlling terminal. Raises `RuntimeError_` if the program cannot be started."""
        if not (1 <= cols <= _MAX_WINDOW and 1 <= rows <= _MAX_WINDOW):
            raise InvalidInput(f"window size {cols}x{rows} is out of range", reason="bad_window")
        start_ticks = _uptime_ticks()
        master, slave = os.openpty()
        try:
            _set_window(slave, cols, rows)
            os.set_blocking(master, False)
            process = await asyncio.create_subprocess_exec(
                *spec.argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env=spec.env,
                cwd=spec.cwd,
                preexec_fn=functools.partial(_acquire_controlling_tty, slave, spec.nice),
            )
        except (OSError, subprocess.SubprocessError) as exc:
            os.close(master)
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise RuntimeError_(
                f"could not start {spec.argv[0] if spec.argv else 'the program'}: {detail}",
                reason="terminal_start_failed",
            ) from exc
        except BaseException:
            os.close(master)
            raise
        finally:
            # Only the child keeps the slave open, so its exit shows up here as EOF (EIO).
            os.close(slave)
        made = cls(
            process,
            master,
            max_pending_input_bytes=max_pending_input_bytes,
            exit_drain_seconds=exit_drain_seconds,
            start_ticks=start_ticks,
        )
        made.marker = spec.marker
        return made

    @property
    def pid(self) -> int:
        return self._process.pid

    @property
    def returncode(self) -> int | None:
        """The exit status once the program has exited (negative: killed by that signal)."""
        return self._process.returncode

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def pending_input_bytes(self) -> int:
        return len(self._pending)

    async def read(self, max_bytes: int = READ_CHUNK_BYTES) -> bytes:
        """Up to `max_bytes` (at most READ_CHUNK_BYTES) of output, waiting for some if need be.

        Returns b"" when the output has ended: every holder of the terminal closed it, or the
        program exited and nothing more came for a short while, or this PTY was closed.
        """
        size = max(1, min(max_bytes, READ_CHUNK_BYTES))
        while not self._closed:
            try:
                data = os.read(self._fd, size)
            except BlockingIOError:
                if self.returncode is None:
                    await self._wait_readable(None)
                elif not await self._wait_readable(self._exit_drain_seconds):
                    return b""
                continue
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF):
                    return b""
                raise
            if self.returncode is not None:
                self._drained_after_exit += len(data)
                if self._drained_after_exit > _EXIT_DRAIN_MAX_BYTES:
                    return b""
            return data
        return b""

    async def _wait_readable(self, limit_seconds: float | None) -> bool:
        waiter: asyncio.Future[None] = self._loop.create_future()
        self._read_waiter = waiter
        if not self._watching:
            self._loop.add_reader(self._fd, self._on_readable)
            self._watching = True
        try:
            if limit_seconds is None:
                await waiter
                return True
            done, _ = await asyncio.wait({waiter}, timeout=limit_seconds)
            return bool(done)
        finally:
            self._read_waiter = None
            if not waiter.done():
                waiter.cancel()

    def _on_readable(self) -> None:
        # The fd stays watched between reads (two fewer syscalls per read under a flood) until
        # it turns readable with nobody waiting: then the reader is paused, so stop watching.
        if self._read_waiter is None:
            self._loop.remove_reader(self._fd)
            self._watching = False
        else:
            self._wake_reader()

    def _wake_reader(self) -> None:
        waiter = self._read_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def write(self, data: bytes) -> None:
        """Queue `data` as the program's input; never blocks.

        Raises `InputOverflow`, writing none of `data`, if the input not yet taken by the
        program would exceed the pending limit. Input after the program is gone is dropped.
        """
        if self._closed or not data:
            return
        if len(self._pending) + len(data) > self._max_pending:
            raise InputOverflow(
                f"the program is not reading its input: more than {self._max_pending} bytes "
                "are waiting",
            )
        self._pending += data
        if not self._writing:
            self._flush()

    def _flush(self) -> None:
        try:
            while self._pending:
                written = os.write(self._fd, self._pending)
                del self._pending[:written]
        except BlockingIOError:
            pass
        except OSError:
            self._pending.clear()  # the program is gone: nobody will read it
        if self._pending and not self._writing:
            self._loop.add_writer(self._fd, self._flush)
            self._writing = True
        elif not self._pending and self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False

    def resize(self, cols: int, rows: int) -> None:
        """Set the window size; the program gets SIGWINCH. Ignored once closed."""
        if not (1 <= cols <= _MAX_WINDOW and 1 <= rows <= _MAX_WINDOW):
            raise InvalidInput(f"window size {cols}x{rows} is out of range", reason="bad_window")
        if not self._closed:
            _set_window(self._fd, cols, rows)

    async def wait(self) -> int:
        """Wait for the program to exit and return its exit status."""
        return await asyncio.shield(self._exit_task)

    async def terminate(self, grace_seconds: float = 2.0) -> int | None:
        """End the program and every process left in its session: SIGHUP (as a closing terminal
        sends), then SIGKILL to whatever remains after `grace_seconds`. Bounded: returns within
        about `grace_seconds` + 3 s with the exit status, or None if the program would not die.
        """
        deadline = self._loop.time() + grace_seconds
        self._signal_all(signal.SIGHUP)
        self._signal_all(signal.SIGCONT)  # a stopped job acts on SIGHUP only once continued
        while self._loop.time() < deadline and self._alive():
            await self._pause(min(_POLL_SECONDS, deadline - self._loop.time()))
        # Someone may fork while we sweep, so kill until nothing is left, within a bound.
        kill_deadline = self._loop.time() + _KILL_WAIT_SECONDS
        while self._alive() and self._loop.time() < kill_deadline:
            self._signal_all(signal.SIGKILL)
            await self._pause(_POLL_SECONDS)
        if self._alive():
            logger.warning("terminal process %d did not die after SIGKILL", self.pid)
        if self.marker is not None:
            # What it left running in its container (a background job) outlives its client.
            kill_marked(self.marker, signal.SIGKILL)
        return self.returncode

    def _alive(self) -> bool:
        return self.returncode is None or bool(self._session_members())

    async def _pause(self, seconds: float) -> None:
        # There is no event for "a process that is not our child died", so this polls.
        if self._exit_task.done():
            await asyncio.sleep(max(0.0, seconds))
        else:
            await asyncio.wait({self._exit_task}, timeout=max(0.0, seconds))

    def _signal_all(self, signum: int) -> None:
        targets = set(self._session_members())
        if self.returncode is None:
            # Until the leader is reaped its pid cannot be reused, so its group is ours.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signum)
        for pid in targets:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signum)
        if self.marker is not None:
            kill_marked(self.marker, signum)

    def _session_members(self) -> list[int]:
        """Live processes in the program's session (Linux; elsewhere only its group is used).

        A shell gives each background job its own process group, so the session is what holds
        everything the terminal started. The session id is the leader's pid, which the kernel
        does not hand out again while the session has members; in case it did once the session
        was empty, a live process with that pid after we reaped the leader means a stranger
        has it, and members must have started no earlier than our leader.
        """
        if not _HAVE_PROC or self._start_ticks is None:
            return []
        if self.returncode is not None and os.path.exists(f"/proc/{self.pid}"):
            return []
        members = []
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            stat = _read_stat(int(name))
            if (
                stat is not None
                and stat.session == self.pid
                and stat.state not in ("Z", "X")
                and stat.start_ticks >= self._start_ticks
            ):
                members.append(int(name))
        return members

    def close(self) -> None:
        """Close the master side (the program, if still running, gets SIGHUP). Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._pending.clear()
        if self._writing:
            self._loop.remove_writer(self._fd)
            self._writing = False
        if self._watching:
            self._loop.remove_reader(self._fd)
            self._watching = False
        self._wake_reader()
        os.close(self._fd)
