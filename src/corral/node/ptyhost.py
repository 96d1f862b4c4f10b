"""The node's PTY host: a process of its own that holds the node's terminals.

Terminals must outlive the node daemon: when the daemon is killed (kill -9, out of memory) or
upgraded, its workspaces' shells keep running here, with their replay buffers, and the daemon
finds them again when it comes back. The host listens on a unix socket in the node's data
directory (mode 0600, owner only) and serves one daemon at a time with the node link's `Peer`
and the methods of `corral.node.ptyprotocol`. A clean stop of the daemon stops the host and its
terminals too, and so does a daemon that stays away longer than
`terminals.agent_absent_limit_seconds` (nothing is left orphaned).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from corral.errors import CorralError, InvalidInput
from corral.node.ptyprotocol import PtySpawn, pty_peer, run_dir, serve_frames, socket_path
from corral.node.ptyterminals import TerminalManager
from corral.node.runtimes.base import ProcessSpec
from corral.node.settings import TerminalSettings
from corral.protocol.frames import ProtocolError
from corral.protocol.messages import (
    Empty,
    TerminalAttach,
    TerminalAttached,
    TerminalInfo,
    TerminalList,
    TerminalQuery,
    TerminalRef,
    TerminalResize,
    WorkspaceRef,
)
from corral.protocol.peer import Handler, Peer

__all__ = ["PtyHost", "run_pty_host"]

log = logging.getLogger("corral.node.ptyhost")


class _Streams:
    """Stream frames from the daemon go to the terminals."""

    def __init__(self, terminals: TerminalManager) -> None:
        self.terminals = terminals

    async def on_data(self, stream: int, data: bytes) -> None:
        self.terminals.input(stream, data)

    async def on_window(self, stream: int, granted: int) -> None:
        self.terminals.grant(stream, granted)

    async def on_close(self, stream: int, reason: str) -> None:
        await self.terminals.detach(stream)


class PtyHost:
    def __init__(self, settings: TerminalSettings) -> None:
        self.terminals = TerminalManager(settings)
        self.stopped = asyncio.Event()
        self._peer: Peer | None = None
        self.daemon_left_at: float | None = time.monotonic()
        """When the last daemon went (or the host started), while none is connected."""

    async def stop_when_abandoned(self, limit_seconds: float) -> None:
        """End everything once no daemon has been connected for `limit_seconds`: the daemon was
        killed and nothing restarted it, so nobody will ever reach these terminals again."""
        while not self.stopped.is_set():
            left_at = self.daemon_left_at
            if left_at is not None and time.monotonic() - left_at > limit_seconds:
                log.warning("no node daemon for %.0f s: ending the terminals", limit_seconds)
                self.stopped.set()
                return
            await asyncio.sleep(min(5.0, limit_seconds / 4))

    async def on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self._peer is not None:  # a new daemon replaces the old one
            await self._peer.close("another daemon connected")
            await self.terminals.detach_all()
        # The handlers send on the peer they serve, so they look it up when called.
        peer = pty_peer(
            writer,
            handlers=self._handlers(lambda: peer),
            streams=_Streams(self.terminals),
            name="the node daemon",
        )
        self._peer = peer
        self.daemon_left_at = None
        try:
            await serve_frames(reader, peer)
        except ProtocolError as exc:
            log.warning("the node daemon broke the protocol: %s", exc)
        finally:
            if self._peer is peer:
                self._peer = None
                self.daemon_left_at = time.monotonic()
                await self.terminals.detach_all()
            await peer.close("the daemon left")
            writer.close()

    def _handlers(self, current_peer: Callable[[], Peer]) -> dict[str, Handler]:
        terminals = self.terminals

        async def spawn(request: PtySpawn) -> TerminalInfo:
            spec = ProcessSpec(
                argv=tuple(request.argv),
                env=request.env,
                cwd=Path(request.cwd),
                marker=request.marker,
                nice=request.nice,
            )
            terminal = await terminals.create(
                request.workspace_id, spec, request.cols, request.rows
            )
            return terminal.info()

        async def list_terminals(query: TerminalQuery) -> TerminalList:
            return TerminalList(terminals=[t.info() for t in terminals.list(query.workspace_id)])

        def own(workspace_id: str, terminal_id: str) -> None:
            if terminals.get(terminal_id).workspace_id != workspace_id:
                raise InvalidInput(
                    f"terminal {terminal_id} is not in workspace {workspace_id}",
                    reason="no_terminal",
                )

        async def delete(ref: TerminalRef) -> Empty:
            own(ref.workspace_id, ref.terminal_id)
            await terminals.delete(ref.terminal_id)
            return Empty()

        async def attach(request: TerminalAttach) -> TerminalAttached:
            own(request.workspace_id, request.terminal_id)
            peer = current_peer()
            return terminals.attach(
                request.terminal_id,
                request.stream,
                request.window_bytes,
                request.offset,
                peer.send_stream,
                peer.close_stream,
            )

        async def resize(request: TerminalResize) -> Empty:
            own(request.workspace_id, request.terminal_id)
            terminals.resize(request.terminal_id, request.cols, request.rows)
            return Empty()

        async def close_workspace(ref: WorkspaceRef) -> Empty:
            await terminals.close_workspace(ref.id)
            return Empty()

        async def detach_all(_: Empty) -> Empty:
            await terminals.detach_all()
            return Empty()

        async def shutdown(_: Empty) -> Empty:
            self.stopped.set()
            return Empty()

        return {
            "pty.spawn": spawn,
            "terminal.list": list_terminals,
            "terminal.delete": delete,
            "terminal.attach": attach,
            "terminal.resize": resize,
            "pty.close_workspace": close_workspace,
            "pty.detach_all": detach_all,
            "pty.shutdown": shutdown,
        }


async def run_pty_host(data_dir: Path, settings: TerminalSettings) -> None:
    """Serve until asked to shut down (or SIGTERM), then end every terminal."""
    directory = run_dir(data_dir)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    lock = os.open(directory / "pty.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(lock)
        raise CorralError(f"a PTY host is already running for {data_dir}") from None
    path = socket_path(data_dir)
    path.unlink(missing_ok=True)
    host = PtyHost(settings)
    old_umask = os.umask(0o177)
    try:
        server = await asyncio.start_unix_server(host.on_connection, path=str(path))
    finally:
        os.umask(old_umask)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, host.stopped.set)
    # The daemon's session may end (its terminal closes): the host must not die with it.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    watchdog = asyncio.create_task(host.stop_when_abandoned(settings.agent_absent_limit_seconds))
    try:
        await host.stopped.wait()
    finally:
        watchdog.cancel()
        server.close()
        await host.terminals.shutdown()
        with contextlib.suppress(OSError):
            path.unlink()
        os.close(lock)
