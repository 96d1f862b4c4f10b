"""Terminals and their viewers: exact replay, shared viewing, flow control that loses nothing
and keeps memory bounded, slow and misbehaving viewers, and the end of a terminal."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from corral.errors import Conflict, InvalidInput, NotFound
from corral.ids import new_id
from corral.node.ptyterminals import (
    CLOSE_DELETED,
    CLOSE_EXITED,
    CLOSE_INPUT_OVERFLOW,
    CLOSE_TOO_SLOW,
    Terminal,
    TerminalManager,
)
from corral.node.ringbuffer import RingBuffer
from corral.node.runtimes.base import ProcessSpec
from corral.node.settings import TerminalSettings
from corral.protocol.frames import MAX_STREAM_CHUNK_BYTES
from tests.support.waits import eventually
from tests.unit.node.test_pty import alive

TIMEOUT_SECONDS = 30.0
RING = 64 * 1024


class Viewer:
    """A node-link stream as the terminal sees it: collects chunks, grants credit (or not)."""

    def __init__(self, manager: TerminalManager, stream: int, *, auto_grant: bool = True) -> None:
        self.manager = manager
        self.stream = stream
        self.auto_grant = auto_grant
        self.data = bytearray()
        self.granted = 0
        self.start = 0
        self.reason: str | None = None

    def attach(self, terminal: Terminal, window: int = RING, offset: int | None = None) -> None:
        attached = self.manager.attach(
            terminal.id, self.stream, window, offset, self.send, self.close
        )
        self.start = attached.offset
        self.granted = window

    def grant(self, credit: int) -> None:
        self.granted += credit
        self.manager.grant(self.stream, credit)

    def type(self, text: bytes) -> None:
        self.manager.input(self.stream, text)

    async def send(self, stream: int, chunk: bytes) -> None:
        assert stream == self.stream
        assert 0 < len(chunk) <= MAX_STREAM_CHUNK_BYTES
        assert self.reason is None, "a chunk after the stream was closed"
        self.data += chunk
        assert len(self.data) <= self.granted, "more bytes than the credit allowed"
        if self.auto_grant:
            self.grant(len(chunk))

    async def close(self, stream: int, reason: str) -> None:
        assert stream == self.stream and self.reason is None
        self.reason = reason

    async def wait_for(self, needle: bytes) -> None:
        await eventually(lambda: needle in self.data, f"{needle!r} on stream {self.stream}")


def shell(tmp_path: Path) -> ProcessSpec:
    return ProcessSpec(
        argv=("/bin/bash", "--norc", "--noprofile", "-i"),
        env={"PATH": "/usr/bin:/bin", "TERM": "xterm-256color", "HOME": str(tmp_path), "PS1": "$ "},
        cwd=tmp_path,
    )


def between(data: bytes | bytearray, first: bytes, last: bytes) -> bytes:
    return bytes(data).split(first, 1)[1].split(last, 1)[0]


def assert_bounded(terminal: Terminal, settings: TerminalSettings) -> None:
    """Memory stays bounded; a failure ends the test at once, even within an `eventually`."""
    stats = terminal.stats()
    limits = {
        "ring_bytes": settings.ring_buffer_bytes,
        "max_viewer_lag_bytes": settings.ring_buffer_bytes,
        "held_output_bytes": 64 * 1024,
        "pending_input_bytes": settings.max_pending_input_bytes,
    }
    over = {
        name: getattr(stats, name) for name, limit in limits.items() if getattr(stats, name) > limit
    }
    if over:
        pytest.fail(f"over their bounds {limits}: {over}")


@pytest.fixture
def settings() -> TerminalSettings:
    return TerminalSettings(ring_buffer_bytes=RING, terminate_grace_seconds=0.5)


@pytest.fixture
async def manager(settings: TerminalSettings) -> AsyncIterator[TerminalManager]:
    manager = TerminalManager(settings)
    try:
        yield manager
    finally:
        await manager.shutdown()


@pytest.fixture
async def terminal(manager: TerminalManager, tmp_path: Path) -> Terminal:
    return await manager.create(new_id("wsp"), shell(tmp_path), 80, 24)


async def test_round_trip(manager: TerminalManager, terminal: Terminal) -> None:
    viewer = Viewer(manager, 1)
    viewer.attach(terminal)
    viewer.type(b"echo $((6 * 7))\r")
    await viewer.wait_for(b"42")
    info = manager.info(terminal.id)
    assert info.viewers == 1 and info.last_attached_at is not None and not info.exited
    assert manager.list(terminal.workspace_id) == [terminal]
    assert manager.list(new_id("wsp")) == []


async def test_reattach_replays_exactly_what_was_printed(
    manager: TerminalManager, terminal: Terminal
) -> None:
    first = Viewer(manager, 1)
    first.attach(terminal)
    assert first.start == 0
    first.type(b"printf '%s\\n' ON''E\r")
    await first.wait_for(b"ONE\r\n")
    await manager.detach(1)
    assert terminal.viewers == 0
    seen = bytes(first.data)

    manager.write(terminal.id, b"printf '%s\\n' TW''O\r")  # printed while nobody watches
    again = Viewer(manager, 2)
    again.attach(terminal, offset=None)
    await eventually(lambda: b"TWO\r\n" in again.data and again.data.endswith(b"$ "), "TWO")
    assert again.start == 0
    assert again.data.startswith(seen)
    assert len(again.data) == terminal.output_offset

    resumed = Viewer(manager, 3)
    resumed.attach(terminal, offset=len(seen))
    assert resumed.start == len(seen)
    await eventually(lambda: len(resumed.data) == len(again.data) - len(seen), "the rest")
    assert resumed.data == again.data[len(seen) :]

    live = Viewer(manager, 4)
    live.attach(terminal, offset=terminal.output_offset)
    live.type(b"printf '%s\\n' THR''EE\r")
    await live.wait_for(b"THREE\r\n")
    assert b"TWO" not in live.data
    with pytest.raises(InvalidInput):
        Viewer(manager, 5).attach(terminal, offset=terminal.output_offset + 1)


async def test_two_viewers_see_the_same_bytes_and_both_type(
    manager: TerminalManager, terminal: Terminal
) -> None:
    one, two = Viewer(manager, 1), Viewer(manager, 2)
    one.attach(terminal)
    two.attach(terminal)
    one.type(b"printf '%s\\n' FROM''ONE\r")
    await two.wait_for(b"FROMONE\r\n")
    two.type(b"printf '%s\\n' FROM''TWO\r")
    await one.wait_for(b"FROMTWO\r\n")
    await eventually(
        lambda: (
            len(one.data) == len(two.data) == terminal.output_offset and one.data.endswith(b"$ ")
        ),
        "both viewers to catch up",
    )
    assert one.data == two.data
    assert manager.info(terminal.id).viewers == 2


async def test_resize_reaches_the_program(manager: TerminalManager, terminal: Terminal) -> None:
    viewer = Viewer(manager, 1)
    viewer.attach(terminal)
    manager.resize(terminal.id, 100, 40)
    viewer.type(b"stty size\r")
    await viewer.wait_for(b"40 100\r\n")
    info = manager.info(terminal.id)
    assert (info.cols, info.rows) == (100, 40)
    for cols, rows in ((0, 10), (10, 0), (1001, 10), (10, 1001)):
        with pytest.raises(InvalidInput):
            manager.resize(terminal.id, cols, rows)
    with pytest.raises(NotFound):
        manager.resize(new_id("trm"), 80, 24)


async def test_a_slow_viewer_loses_no_bytes_and_memory_stays_bounded(
    manager: TerminalManager, settings: TerminalSettings, terminal: Terminal
) -> None:
    viewer = Viewer(manager, 1, auto_grant=False)
    viewer.attach(terminal, window=16 * 1024)
    viewer.type(b"printf '%s\\n' ST''ART; seq 1 2000000; printf '%s\\n' E''ND\r")
    idle = 0

    def read_slowly() -> bool:
        """One look at the flood, granting credit only once the reader had to stop for us (or
        the output has run dry)."""
        nonlocal idle
        if b"END\r\n" in viewer.data:
            return True
        assert_bounded(terminal, settings)
        if len(viewer.data) >= viewer.granted:
            idle = 0 if terminal.stats().reader_paused else idle + 1
            if idle == 0 or idle > 20:
                viewer.grant(64 * 1024)
                idle = 0
        return False

    await eventually(read_slowly, "the flood's end", wait_seconds=120, interval=0.002)
    expected = b"".join(b"%d\r\n" % n for n in range(1, 2_000_001))
    got = between(viewer.data, b"START\r\n", b"END\r\n")
    assert len(got) == len(expected)
    assert hashlib.sha256(got).digest() == hashlib.sha256(expected).digest()
    assert terminal.stats().reader_pauses > 10
    assert viewer.reason is None


async def test_with_no_viewer_a_flood_runs_on_in_a_ring_of_fixed_size(
    manager: TerminalManager, settings: TerminalSettings, terminal: Terminal
) -> None:
    manager.write(terminal.id, b"head -c 20000000 /dev/zero | tr '\\0' y; printf '%s\\n' DO''NE\r")

    def flooded() -> bool:
        assert_bounded(terminal, settings)
        return terminal.output_offset >= 20_000_000

    await eventually(flooded, "20 MB of output", wait_seconds=120, interval=0.005)
    assert terminal.stats().ring_bytes == RING
    assert terminal.stats().reader_pauses == 0

    # Asking for offset 0 gets the oldest byte still kept.
    viewer = Viewer(manager, 1)
    viewer.attach(terminal, offset=0)
    assert viewer.start >= 20_000_000 - RING
    await viewer.wait_for(b"DONE\r\n")
    await eventually(lambda: viewer.start + len(viewer.data) == terminal.output_offset, "sync")
    assert viewer.data.startswith(b"y" * 1000)


async def test_a_stalled_viewer_is_closed_and_the_others_go_on(
    manager: TerminalManager, tmp_path: Path
) -> None:
    settings = TerminalSettings(ring_buffer_bytes=RING, viewer_stall_seconds=0.3)
    local = TerminalManager(settings)
    try:
        terminal = await local.create(new_id("wsp"), shell(tmp_path))
        fast, stuck = Viewer(local, 1), Viewer(local, 2, auto_grant=False)
        fast.attach(terminal)
        stuck.attach(terminal, window=4096)
        fast.type(b"printf '%s\\n' ST''ART; seq 1 300000; printf '%s\\n' E''ND\r")
        await eventually(lambda: stuck.reason is not None, "the stuck viewer to be closed")
        assert stuck.reason == CLOSE_TOO_SLOW
        assert len(stuck.data) == 4096
        await fast.wait_for(b"END\r\n")
        expected = b"".join(b"%d\r\n" % n for n in range(1, 300_001))
        assert between(fast.data, b"START\r\n", b"END\r\n") == expected
        assert fast.reason is None
        assert terminal.viewers == 1 and not terminal.exited
    finally:
        await local.shutdown()


async def test_exit_closes_every_stream_and_keeps_the_terminal_listed(
    manager: TerminalManager, terminal: Terminal
) -> None:
    one, two = Viewer(manager, 1), Viewer(manager, 2)
    one.attach(terminal)
    two.attach(terminal)
    one.type(b"printf '%s\\n' BYE; exit 7\r")
    await eventually(lambda: one.reason is not None and two.reason is not None, "the closes")
    assert one.reason == two.reason == CLOSE_EXITED
    assert one.data == two.data and b"BYE\r\n" in one.data
    info = manager.info(terminal.id)
    assert info.exited and info.exit_status == 7 and info.viewers == 0
    assert manager.count() == 1 and manager.count(running_only=True) == 0

    # An exited terminal still replays its output, then closes the stream.
    late = Viewer(manager, 3)
    late.attach(terminal)
    await eventually(lambda: late.reason is not None, "the late viewer to be closed")
    assert late.reason == CLOSE_EXITED and late.data == one.data
    late.type(b"ignored\r")
    await manager.delete(terminal.id)
    assert manager.list() == []


async def test_delete_kills_everything_the_terminal_started(
    manager: TerminalManager, terminal: Terminal
) -> None:
    viewer = Viewer(manager, 1)
    viewer.attach(terminal)
    viewer.type(b"sleep 1000 & a=$!; (trap '' HUP; exec sleep 1000) & b=$!; echo P''IDS $a $b\r")
    await eventually(
        lambda: b"PIDS " in viewer.data and b"\n" in viewer.data.split(b"PIDS ")[-1], "pids"
    )
    pids = [int(p) for p in viewer.data.split(b"PIDS ")[-1].split()[:2]]
    assert all(alive(pid) for pid in [terminal.pid, *pids])
    await manager.delete(terminal.id)
    assert viewer.reason == CLOSE_DELETED
    await eventually(
        lambda: not any(alive(p) for p in [terminal.pid, *pids]), "the processes to die"
    )
    with pytest.raises(NotFound, match="not found"):
        manager.get(terminal.id)
    with pytest.raises(NotFound):
        await manager.delete(terminal.id)
    assert manager.count() == 0


async def test_oversize_input_closes_only_that_viewer(tmp_path: Path) -> None:
    settings = TerminalSettings(ring_buffer_bytes=RING, max_pending_input_bytes=64 * 1024)
    local = TerminalManager(settings)
    try:
        terminal = await local.create(new_id("wsp"), shell(tmp_path))
        flooder, watcher = Viewer(local, 1), Viewer(local, 2)
        flooder.attach(terminal)
        watcher.attach(terminal)
        flooder.type(b"stty raw -echo; printf '%s\\n' RE''ADY; sleep 1000\r")
        await watcher.wait_for(b"READY\n")

        def closed_for_typing_too_much() -> bool:
            if flooder.reason is not None:
                return True
            flooder.type(b"x" * 16 * 1024)
            assert_bounded(terminal, settings)
            return False

        await eventually(closed_for_typing_too_much, "the flooder closed", interval=0)
        assert flooder.reason == CLOSE_INPUT_OVERFLOW
        flooder.type(b"more")  # ignored: the stream is gone
        assert watcher.reason is None and terminal.viewers == 1
        assert not terminal.exited and alive(terminal.pid)
    finally:
        await local.shutdown()


async def test_streams_and_workspaces(manager: TerminalManager, tmp_path: Path) -> None:
    workspace, other = new_id("wsp"), new_id("wsp")
    a = await manager.create(workspace, shell(tmp_path))
    b = await manager.create(workspace, shell(tmp_path))
    c = await manager.create(other, shell(tmp_path))
    viewer = Viewer(manager, 7)
    viewer.attach(a)
    with pytest.raises(Conflict):
        Viewer(manager, 7).attach(b)
    with pytest.raises(NotFound):
        manager.attach(new_id("trm"), 8, 1024, None, viewer.send, viewer.close)
    with pytest.raises(InvalidInput):
        await manager.create(workspace, shell(tmp_path), 0, 24)
    manager.grant(99, 10)  # unknown streams are ignored
    manager.input(99, b"x")
    await manager.detach(99)

    await manager.detach_all()
    assert a.viewers == 0 and not a.exited and viewer.reason is None
    await manager.close_workspace(workspace)
    assert manager.list() == [c]
    await eventually(lambda: not alive(a.pid) and not alive(b.pid), "the workspace's shells to die")
    await manager.shutdown()
    assert manager.count() == 0
    await eventually(lambda: not alive(c.pid), "the last shell to die")


def test_ring_buffer_keeps_the_last_bytes_at_absolute_offsets() -> None:
    ring = RingBuffer(8)
    ring.write(b"abc")
    assert (len(ring), ring.start, ring.end) == (3, 0, 3)
    assert ring.read(0, 100) == (0, b"abc")
    ring.write(b"defghij")  # wraps
    assert (len(ring), ring.start, ring.end) == (8, 2, 10)
    assert ring.read(0, 100) == (2, b"cdefghij")
    assert ring.read(5, 3) == (5, b"fgh")
    assert ring.read(10, 3) == (10, b"")
    ring.write(b"0123456789ABC")  # more than the capacity at once
    assert ring.end == 23
    assert ring.read(0, 100) == (15, b"56789ABC")
    assert ring.read(20, 100) == (20, b"ABC")


async def test_a_workspace_may_have_only_so_many_terminals(tmp_path: Path) -> None:
    manager = TerminalManager(TerminalSettings(max_per_workspace=2))
    try:
        first = await manager.create("wsp_a", shell(tmp_path))
        await manager.create("wsp_a", shell(tmp_path))
        with pytest.raises(Conflict, match="close one first"):
            await manager.create("wsp_a", shell(tmp_path))
        await manager.create("wsp_b", shell(tmp_path))  # another workspace has its own limit
        await manager.delete(first.id)
        await manager.create("wsp_a", shell(tmp_path))
    finally:
        await manager.shutdown()
