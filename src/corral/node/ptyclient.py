"""The node daemon's side of its PTY host: starts the host if it is not running, asks it for
terminals, and carries terminal streams between it and the control plane.

Stream numbers are the control plane's, used as they are on both links. Bytes for a stream
are forwarded only while the control plane link that attached it is up, so nothing from an
old viewer can reach a new one that got the same number after a relink.

A host with no terminal is stopped after a while (`retire_if_idle`): it is most of a node's
memory (its own Python, asyncio and pydantic: about 40 MiB), and a node spends most of its
life without a terminal open. Nothing is lost: the next terminal starts a host again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path

from corral.errors import CorralError, NotFound, RetryableProviderError
from corral.node.__main__ import node_command
from corral.node.ptyprotocol import PtySpawn, pty_peer, run_dir, serve_frames, socket_path
from corral.node.runtimes.base import ProcessSpec
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
from corral.protocol.peer import Peer

__all__ = ["PtyHostClient"]

log = logging.getLogger("corral.node.ptyclient")

START_TIMEOUT_SECONDS = 15.0
POLL_SECONDS = 0.05


class PtyHostClient:
    def __init__(self, data_dir: Path, *, idle_seconds: float = 0.0) -> None:
        self.data_dir = data_dir
        self.idle_seconds = idle_seconds
        """How long the host may hold no terminal before `retire_if_idle` stops it (0: never)."""
        self.upstream: Peer | None = None
        """The control plane's link while it is up; terminal bytes go there."""
        self._peer: Peer | None = None
        self._reader: asyncio.Task[None] | None = None
        self._streams: set[int] = set()
        self._lock = asyncio.Lock()
        self._count = 0
        self._host: asyncio.subprocess.Process | None = None  # if this daemon started it
        self._empty_since: float | None = None
        """Since when the listings found the host holding no terminal at all."""
        self._spawning = asyncio.Lock()
        """Held by a new terminal's request and by a retirement, so no terminal is created on a
        host that is stopping."""

    # -- connecting ----------------------------------------------------------------------------

    async def _connected(self) -> Peer:
        """The link to the host, starting the host if it is not running."""
        peer = await self._existing()
        if peer is not None:
            return peer
        async with self._lock:
            if self._peer is not None and not self._peer.closed:
                return self._peer
            reader, writer = await self._open()
            return self._adopt(reader, writer)

    async def _existing(self) -> Peer | None:
        """The link to a host that is running, or None (no host is started for a question)."""
        async with self._lock:
            if self._peer is not None and not self._peer.closed:
                return self._peer
            try:
                reader, writer = await asyncio.open_unix_connection(str(socket_path(self.data_dir)))
            except OSError:
                return None
            return self._adopt(reader, writer)

    def _adopt(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> Peer:
        peer = pty_peer(writer, streams=self, name="the PTY host")
        self._peer = peer
        self._reader = asyncio.create_task(self._read(reader, writer, peer))
        return peer

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        path = socket_path(self.data_dir)
        with contextlib.suppress(OSError):
            return await asyncio.open_unix_connection(str(path))
        await self._start_host()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                return await asyncio.open_unix_connection(str(path))
            except OSError:
                if time.monotonic() > deadline:
                    raise RetryableProviderError(
                        "the node's PTY host did not start; see "
                        f"{run_dir(self.data_dir) / 'pty-host.log'}",
                        reason="pty_host_unavailable",
                    ) from None
                await asyncio.sleep(POLL_SECONDS)

    async def _start_host(self) -> None:
        directory = run_dir(self.data_dir)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_fd = os.open(directory / "pty-host.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            # Its own session: the host outlives this daemon however the daemon ends.
            self._host = await asyncio.create_subprocess_exec(
                *node_command("pty-host", "--data-dir", str(self.data_dir)),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_fd,
                stderr=log_fd,
                start_new_session=True,
            )
        finally:
            os.close(log_fd)
        log.info("started the PTY host")

    async def _read(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: Peer
    ) -> None:
        try:
            await serve_frames(reader, peer)
        except Exception:
            log.exception("the PTY host link failed")
        finally:
            await peer.close("the PTY host link closed")
            writer.close()
            for stream in list(self._streams):
                await self.on_close(stream, "the node's terminals restarted")

    # -- requests ------------------------------------------------------------------------------

    async def create(
        self, workspace_id: str, spec: ProcessSpec, cols: int, rows: int
    ) -> TerminalInfo:
        request = PtySpawn(
            workspace_id=workspace_id,
            argv=list(spec.argv),
            env=spec.env,
            cwd=str(spec.cwd),
            cols=cols,
            rows=rows,
            marker=spec.marker,
            nice=spec.nice,
        )
        async with self._spawning:
            self._empty_since = None
            return await (await self._connected()).call("pty.spawn", request, TerminalInfo)

    async def list(self, workspace_id: str | None = None) -> list[TerminalInfo]:
        peer = await self._existing()
        if peer is None:
            self._count = 0
            self._empty_since = None
            return []
        found = await peer.call(
            "terminal.list", TerminalQuery(workspace_id=workspace_id), TerminalList
        )
        if workspace_id is None:
            self._count = sum(1 for t in found.terminals if not t.exited)
            if found.terminals:
                self._empty_since = None
            elif self._empty_since is None:
                self._empty_since = time.monotonic()
        return found.terminals

    async def retire_if_idle(self) -> bool:
        """Stop the host if the listings have found it holding no terminal (not even one whose
        program exited, which keeps its output) for `idle_seconds`. Whether it is still empty
        is asked again under the lock new terminals take, so none is made on a stopping host;
        this returns once the host has gone, so the next terminal starts a new one."""
        since = self._empty_since
        if not self.idle_seconds or since is None or time.monotonic() - since < self.idle_seconds:
            return False
        async with self._spawning:
            # A listing forgets the empty time if the host holds a terminal or has gone.
            if await self.list() or self._empty_since is None or self._peer is None:
                return False
            await self._stop_host(self._peer)
            self._empty_since = None
        log.info("stopped the PTY host: it held no terminal for %.0f s", self.idle_seconds)
        return True

    async def _stop_host(self, peer: Peer) -> None:
        """Ask the host to end its terminals and exit, and wait until it has: it closes its
        link as its process ends, after giving up its socket and lock. A host this daemon
        started is reaped, and killed if it has not exited by then."""
        with contextlib.suppress(CorralError):
            await peer.request("pty.shutdown", Empty(), timeout_seconds=10)
        if self._reader is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._reader), START_TIMEOUT_SECONDS)
        await self._reap_host()

    async def _reap_host(self) -> None:
        if self._host is None:
            return
        try:
            await asyncio.wait_for(self._host.wait(), START_TIMEOUT_SECONDS)
        except TimeoutError:
            self._host.kill()
            await self._host.wait()
        self._host = None

    async def _needed(self) -> Peer:
        peer = await self._existing()
        if peer is None:
            raise NotFound("this node has no terminals", reason="no_terminal")
        return peer

    async def get(self, terminal_id: str) -> TerminalInfo:
        for info in await self.list():
            if info.id == terminal_id:
                return info
        raise NotFound(f"terminal {terminal_id} not found on this node", reason="no_terminal")

    def count(self) -> int:
        """Running terminals, as of the last full listing (the heartbeat refreshes it)."""
        return self._count

    async def delete(self, workspace_id: str, terminal_id: str) -> None:
        await (await self._needed()).request(
            "terminal.delete", TerminalRef(workspace_id=workspace_id, terminal_id=terminal_id)
        )

    async def attach(self, request: TerminalAttach) -> TerminalAttached:
        self._streams.add(request.stream)
        try:
            attached = await (await self._needed()).call(
                "terminal.attach", request, TerminalAttached
            )
        except BaseException:
            self._streams.discard(request.stream)
            raise
        return attached

    async def resize(self, request: TerminalResize) -> None:
        await (await self._needed()).request("terminal.resize", request)

    async def close_workspace(self, workspace_id: str) -> None:
        peer = await self._existing()
        if peer is not None:
            await peer.request("pty.close_workspace", WorkspaceRef(id=workspace_id))

    async def detach_all(self) -> None:
        """The control plane link dropped: its viewers are gone; the terminals run on."""
        self._streams.clear()
        peer = await self._existing()
        if peer is not None:
            with contextlib.suppress(CorralError):
                await peer.request("pty.detach_all", Empty())

    async def shutdown(self) -> None:
        """A clean stop of the daemon: end the host and its terminals, also a host this daemon
        never used (left by a daemon that was killed)."""
        peer = await self._existing()
        if peer is not None and not peer.closed:
            with contextlib.suppress(CorralError):
                await peer.request("pty.shutdown", Empty(), timeout_seconds=10)
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
        await self._reap_host()

    # -- stream frames between the control plane and the host ------------------------------------

    async def input(self, stream: int, data: bytes) -> None:
        peer = self._peer
        if peer is not None and stream in self._streams:
            with contextlib.suppress(CorralError):
                await peer.send_stream(stream, data)

    async def grant(self, stream: int, granted: int) -> None:
        peer = self._peer
        if peer is not None and stream in self._streams:
            with contextlib.suppress(CorralError):
                await peer.grant(stream, granted)

    async def detach(self, stream: int) -> None:
        peer = self._peer
        if stream in self._streams:
            self._streams.discard(stream)
            if peer is not None:
                await peer.close_stream(stream, "viewer left")

    async def on_data(self, stream: int, data: bytes) -> None:
        upstream = self.upstream
        if upstream is not None and stream in self._streams:
            with contextlib.suppress(CorralError):
                await upstream.send_stream(stream, data)

    async def on_window(self, stream: int, granted: int) -> None:
        """Input carries no credit (the host bounds it)."""

    async def on_close(self, stream: int, reason: str) -> None:
        upstream = self.upstream
        if stream in self._streams:
            self._streams.discard(stream)
            if upstream is not None:
                await upstream.close_stream(stream, reason)
