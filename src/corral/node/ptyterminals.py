"""PTY terminals: programs on PTYs that outlive their viewers, with exact replay and flow control.

A browser tab closes, a laptop sleeps, the node link reconnects: the shell must keep running, and
a viewer that comes back must get exactly the bytes it missed, as far back as the ring reaches.
So each terminal reads its PTY all the time into a ring buffer addressed by absolute offsets
(bytes ever printed), and each viewer (an attachment: one node-link stream) is a pump that sends
from its own offset as far as the credit its receiver granted allows. No viewer loses a byte and
memory stays bounded: the reader never overwrites output an attached viewer has not had, it
pauses, and the program blocks on a full PTY as on a slow real terminal (with no viewer, the ring
just overwrites). A viewer that gets no credit for `viewer_stall_seconds` while it holds everyone
up is closed ("viewer too slow"), so one stuck browser cannot freeze a terminal for the others.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from corral.errors import Conflict, InvalidInput, NotFound
from corral.ids import new_id
from corral.node.pty import InputOverflow, PtyProcess
from corral.node.ringbuffer import RingBuffer
from corral.node.runtimes.base import ProcessSpec
from corral.node.settings import TerminalSettings
from corral.protocol.frames import MAX_STREAM_CHUNK_BYTES
from corral.protocol.messages import MAX_WINDOW, TerminalAttached, TerminalInfo

__all__ = [
    "CLOSE_DELETED",
    "CLOSE_EXITED",
    "CLOSE_INPUT_OVERFLOW",
    "CLOSE_TOO_SLOW",
    "CloseStream",
    "SendChunk",
    "Terminal",
    "TerminalManager",
    "TerminalStats",
]

logger = logging.getLogger(__name__)

CLOSE_EXITED = "terminal exited"
CLOSE_DELETED = "terminal deleted"
CLOSE_TOO_SLOW = "viewer too slow"
CLOSE_INPUT_OVERFLOW = "input overflow: the program is not reading its input"

SendChunk = Callable[[int, bytes], Awaitable[None]]
"""Sends one chunk (at most MAX_STREAM_CHUNK_BYTES) on a stream."""
CloseStream = Callable[[int, str], Awaitable[None]]
"""Closes a stream from the node's side, with a reason for the viewer."""


def _check_window(cols: int, rows: int) -> None:
    if not (1 <= cols <= MAX_WINDOW and 1 <= rows <= MAX_WINDOW):
        message = f"a terminal is 1 to {MAX_WINDOW} columns and rows, not {cols}x{rows}"
        raise InvalidInput(message, reason="bad_window")


@dataclass(frozen=True)
class TerminalStats:
    """Sizes of a terminal's buffers, for introspection and tests."""

    ring_bytes: int
    held_output_bytes: int
    pending_input_bytes: int
    max_viewer_lag_bytes: int
    reader_paused: bool
    reader_pauses: int


@dataclass(eq=False)
class _Attachment:
    stream: int
    send: SendChunk
    close: CloseStream
    offset: int
    credit: int
    last_progress: float
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    close_reason: str | None = None
    task: asyncio.Task[None] | None = None


class Terminal:
    """One program on a PTY, its replay ring and its viewers. Made by `TerminalManager.create`."""

    def __init__(
        self,
        workspace_id: str,
        pty: PtyProcess,
        cols: int,
        rows: int,
        settings: TerminalSettings,
        on_detach: Callable[[int], object],
    ) -> None:
        self.id = new_id("trm")
        self.workspace_id = workspace_id
        self.cols, self.rows = cols, rows
        self.created_at = datetime.now(UTC)
        self.last_attached_at: datetime | None = None
        self.exit_status: int | None = None
        self.exited = False
        self._pty = pty
        self._settings = settings
        self._on_detach = on_detach
        self._ring = RingBuffer(settings.ring_buffer_bytes)
        self._attachments: dict[int, _Attachment] = {}
        self._pumps: set[asyncio.Task[None]] = set()
        self._room = asyncio.Event()
        self._paused, self._pauses, self._held = False, 0, 0
        self._loop = asyncio.get_running_loop()
        self._reader = asyncio.create_task(self._read_loop(), name=f"terminal {self.id} reader")

    @property
    def pid(self) -> int:
        return self._pty.pid

    @property
    def viewers(self) -> int:
        return len(self._attachments)

    @property
    def output_offset(self) -> int:
        """How many bytes the terminal has printed in all."""
        return self._ring.end

    def info(self) -> TerminalInfo:
        # A Terminal has an attribute or property for each field of TerminalInfo.
        return TerminalInfo(**{name: getattr(self, name) for name in TerminalInfo.model_fields})

    def stats(self) -> TerminalStats:
        return TerminalStats(
            ring_bytes=len(self._ring),
            held_output_bytes=self._held,
            pending_input_bytes=self._pty.pending_input_bytes,
            max_viewer_lag_bytes=self._ring.capacity - self._room_left(),
            reader_paused=self._paused,
            reader_pauses=self._pauses,
        )

    def write_input(self, data: bytes) -> None:
        """Queue input for the program. Raises `InputOverflow` if over the pending limit."""
        self._pty.write(data)

    def resize(self, cols: int, rows: int) -> None:
        _check_window(cols, rows)
        self._pty.resize(cols, rows)
        self.cols, self.rows = cols, rows

    # Output: one reader fills the ring, as far as the slowest viewer allows.

    def _room_left(self) -> int:
        lags = [self._ring.end - a.offset for a in self._attachments.values() if not a.close_reason]
        return self._ring.capacity - max(lags, default=0)

    async def _wait_for_room(self) -> None:
        while True:
            self._room.clear()
            if self._room_left() > 0:
                break
            if not self._paused:
                self._paused = True
                self._pauses += 1
            await self._room.wait()
        self._paused = False

    async def _read_loop(self) -> None:
        try:
            while True:
                await self._wait_for_room()
                data = await self._pty.read(self._room_left())
                if not data:
                    break
                while data:
                    room = self._room_left()
                    if room <= 0:  # a viewer attached during the read
                        self._held = len(data)
                        await self._wait_for_room()
                        continue
                    chunk, data = (data, b"") if len(data) <= room else (data[:room], data[room:])
                    self._ring.write(chunk)
                    for attachment in self._attachments.values():
                        attachment.wake.set()
                self._held = 0
        except Exception:
            logger.exception("terminal %s: reading its output failed", self.id)
            await self._pty.terminate(self._settings.terminate_grace_seconds)
        self.exit_status = await self._pty.wait()
        self.exited = True
        self._pty.close()
        for attachment in self._attachments.values():
            attachment.wake.set()

    # Viewers: one pump per attachment, sending from its own offset within its credit.

    def attach(
        self,
        stream: int,
        window_bytes: int,
        offset: int | None,
        send: SendChunk,
        close: CloseStream,
    ) -> int:
        """See `TerminalManager.attach`; returns the offset the bytes will start at."""
        if window_bytes <= 0:
            raise InvalidInput("the window must be at least one byte", reason="bad_window_bytes")
        if offset is not None and offset > self._ring.end:
            raise InvalidInput(
                f"offset {offset} is past the end of the output ({self._ring.end} bytes)",
                reason="offset_ahead",
            )
        start = self._ring.start if offset is None else max(offset, self._ring.start)
        attachment = _Attachment(stream, send, close, start, window_bytes, self._loop.time())
        self._attachments[stream] = attachment
        pump = asyncio.create_task(self._pump(attachment), name=f"terminal {self.id} {stream}")
        attachment.task = pump
        self._pumps.add(pump)
        pump.add_done_callback(self._pumps.discard)
        self.last_attached_at = datetime.now(UTC)
        return start

    async def detach(self, stream: int) -> None:
        """Stop sending on `stream` without closing it (the viewer closed it)."""
        attachment = self._attachments.get(stream)
        if attachment is not None and attachment.task is not None:
            self._drop(attachment)
            attachment.task.cancel()
            await asyncio.wait({attachment.task})

    def grant(self, stream: int, credit_bytes: int) -> None:
        attachment = self._attachments.get(stream)
        if attachment is not None:
            attachment.credit += credit_bytes
            attachment.last_progress = self._loop.time()
            attachment.wake.set()

    def input(self, stream: int, data: bytes) -> None:
        """Input from a viewer; over the pending limit, that viewer is closed."""
        attachment = self._attachments.get(stream)
        if attachment is None or attachment.close_reason:
            return
        try:
            self._pty.write(data)
        except InputOverflow:
            logger.info("terminal %s: closing stream %d: %s", self.id, stream, CLOSE_INPUT_OVERFLOW)
            attachment.close_reason = CLOSE_INPUT_OVERFLOW
            attachment.wake.set()
            self._room.set()

    def _drop(self, attachment: _Attachment) -> None:
        if self._attachments.get(attachment.stream) is attachment:
            del self._attachments[attachment.stream]
            self._on_detach(attachment.stream)
        self._room.set()

    async def _pump(self, att: _Attachment) -> None:
        stall = self._settings.viewer_stall_seconds
        reason: str | None = None
        try:
            while reason is None:
                att.wake.clear()
                behind = self._ring.end - att.offset
                if att.close_reason is not None:
                    reason = att.close_reason
                elif behind > 0 and att.credit > 0:
                    size = min(att.credit, MAX_STREAM_CHUNK_BYTES)
                    att.offset, chunk = self._ring.read(att.offset, size)
                    try:
                        async with asyncio.timeout(stall):
                            await att.send(att.stream, chunk)
                    except TimeoutError:
                        reason = CLOSE_TOO_SLOW
                        break
                    att.offset += len(chunk)
                    att.credit -= len(chunk)
                    att.last_progress = self._loop.time()
                    self._room.set()
                elif behind == 0 and self.exited:
                    reason = CLOSE_EXITED
                else:
                    timeout = None
                    if behind > 0:  # out of credit
                        waited = self._loop.time() - att.last_progress
                        if waited < stall:
                            timeout = stall - waited
                        elif self.exited:
                            reason = CLOSE_EXITED
                        elif behind >= self._ring.capacity:  # the reader waits for this one
                            reason = CLOSE_TOO_SLOW
                    if reason is None:
                        with contextlib.suppress(TimeoutError):
                            async with asyncio.timeout(timeout):
                                await att.wake.wait()
        except Exception:
            logger.warning("terminal %s: stream %d failed", self.id, att.stream, exc_info=True)
        finally:
            self._drop(att)
        if reason is not None:
            try:
                async with asyncio.timeout(stall):
                    await att.close(att.stream, reason)
            except Exception:
                logger.warning("terminal %s: closing stream %d failed", self.id, att.stream)

    async def destroy(self, reason: str = CLOSE_DELETED) -> None:
        """Close every viewer with `reason`, end the program and all it started. Bounded."""
        for attachment in self._attachments.values():
            attachment.close_reason = reason
            attachment.wake.set()
        self._room.set()
        await self._pty.terminate(self._settings.terminate_grace_seconds)
        self._reader.cancel()
        tasks = {self._reader, *self._pumps}
        _, pending = await asyncio.wait(tasks, timeout=self._settings.viewer_stall_seconds + 1)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
        self._pty.close()


class TerminalManager:
    """The node's terminals, found by id and by attached stream (stream numbers are unique on
    the node link). Every method is safe to call for a terminal or stream that has just gone:
    `get`, `info`, `delete`, `attach` and `resize` raise `NotFound`; stream calls are ignored.
    """

    def __init__(self, settings: TerminalSettings | None = None) -> None:
        self.settings = settings or TerminalSettings()
        self._terminals: dict[str, Terminal] = {}
        self._streams: dict[int, Terminal] = {}

    async def create(
        self, workspace_id: str, spec: ProcessSpec, cols: int | None = None, rows: int | None = None
    ) -> Terminal:
        """Start `spec` (the caller sets TERM in its env) on a new terminal. Raises InvalidInput
        for a window out of range, `RuntimeError_` if the program cannot start."""
        cols = self.settings.default_cols if cols is None else cols
        rows = self.settings.default_rows if rows is None else rows
        _check_window(cols, rows)
        running = sum(1 for t in self.list(workspace_id) if not t.exited)
        if running >= self.settings.max_per_workspace:
            raise Conflict(
                f"the workspace has {running} terminals open, the most it may; close one first",
                reason="too_many_terminals",
            )
        limit = self.settings.max_pending_input_bytes
        pty = await PtyProcess.start(spec, cols=cols, rows=rows, max_pending_input_bytes=limit)
        forget = self._streams.pop
        terminal = Terminal(workspace_id, pty, cols, rows, self.settings, lambda s: forget(s, None))
        self._terminals[terminal.id] = terminal
        return terminal

    def get(self, terminal_id: str) -> Terminal:
        terminal = self._terminals.get(terminal_id)
        if terminal is None:
            raise NotFound(f"terminal {terminal_id} not found on this node", reason="no_terminal")
        return terminal

    def list(self, workspace_id: str | None = None) -> builtins.list[Terminal]:
        """The terminals (of one workspace, if given), oldest first; exited ones included."""
        return [t for t in self._terminals.values() if workspace_id in (None, t.workspace_id)]

    def info(self, terminal_id: str) -> TerminalInfo:
        return self.get(terminal_id).info()

    def count(self, *, running_only: bool = False) -> int:
        """Terminals listed (for the heartbeat); only those not exited with `running_only`."""
        return sum(1 for t in self._terminals.values() if not (running_only and t.exited))

    async def delete(self, terminal_id: str) -> None:
        """End the terminal's program and all it started, close its viewers, forget it."""
        await self._destroy(self.get(terminal_id))

    async def _destroy(self, terminal: Terminal) -> None:
        if terminal.id in self._terminals:
            # Shielded: a request cancelled half-way (the link dropped) must not leave a
            # program running that is no longer listed.
            await asyncio.shield(terminal.destroy())
            self._terminals.pop(terminal.id, None)

    def attach(
        self,
        terminal_id: str,
        stream: int,
        window_bytes: int,
        offset: int | None,
        send: SendChunk,
        close: CloseStream,
    ) -> TerminalAttached:
        """Send the terminal's output on `stream` from `offset` (None: the oldest byte kept), at
        most `window_bytes` ahead of `grant`. Bytes may flow as soon as this returns, so the
        caller must be ready for chunks on `stream` before it answers the request."""
        terminal = self.get(terminal_id)
        if stream in self._streams:
            raise Conflict(f"stream {stream} is already attached", reason="stream_in_use")
        start = terminal.attach(stream, window_bytes, offset, send, close)
        self._streams[stream] = terminal
        return TerminalAttached(terminal=terminal.info(), offset=start)

    async def detach(self, stream: int) -> None:
        """The viewer closed `stream`: stop sending on it (without calling its `close`)."""
        terminal = self._streams.get(stream)
        if terminal is not None:
            await terminal.detach(stream)

    async def detach_all(self) -> None:
        """The node link dropped: every stream is gone. The terminals keep running."""
        await asyncio.gather(*(self.detach(stream) for stream in builtins.list(self._streams)))

    def grant(self, stream: int, credit_bytes: int) -> None:
        terminal = self._streams.get(stream)
        if terminal is not None and credit_bytes > 0:
            terminal.grant(stream, credit_bytes)

    def input(self, stream: int, data: bytes) -> None:
        """Input from the viewer on `stream`. Over the pending limit, that stream is closed with
        CLOSE_INPUT_OVERFLOW and the terminal lives on; the bytes are then dropped."""
        terminal = self._streams.get(stream)
        if terminal is not None:
            terminal.input(stream, data)

    def write(self, terminal_id: str, data: bytes) -> None:
        """Input with no viewer behind it; raises `InputOverflow` over the pending limit."""
        self.get(terminal_id).write_input(data)

    def resize(self, terminal_id: str, cols: int, rows: int) -> None:
        self.get(terminal_id).resize(cols, rows)

    async def close_workspace(self, workspace_id: str) -> None:
        """End every terminal of a workspace that is stopping."""
        await self._destroy_all(self.list(workspace_id))

    async def shutdown(self) -> None:
        """End every terminal (bounded by the terminate grace and the viewer stall time)."""
        await self._destroy_all(self.list())

    async def _destroy_all(self, terminals: builtins.list[Terminal]) -> None:
        results = await asyncio.gather(*map(self._destroy, terminals), return_exceptions=True)
        for terminal, result in zip(terminals, results, strict=True):
            if isinstance(result, Exception):
                logger.error("terminal %s: could not end it", terminal.id, exc_info=result)
