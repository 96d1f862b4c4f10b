"""The node daemon: dials the control plane, serves its requests, and keeps dialling.

One connection at a time. Everything that must outlive a dropped link (workspaces, terminals
and their output) lives in `NodeWorkspaces` and `TerminalManager`, not in the connection, so a
relink finds it all as it was. Redials back off exponentially with full jitter, capped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException

from corral import __version__
from corral.errors import CorralError, InvalidInput
from corral.netenv import NetworkEnvironment
from corral.node.controlurl import control_plane_proxy
from corral.node.health import WorkspaceCapacity, read_machine_health
from corral.node.identity import NodeIdentity
from corral.node.ptyclient import PtyHostClient
from corral.node.sessions import NodeSessions
from corral.node.workspaces import NodeWorkspaces
from corral.protocol.frames import (
    CLOSE_BAD_FRAME,
    CLOSE_PROTOCOL_VERSION,
    CLOSE_UNAUTHORIZED,
    MAX_TEXT_FRAME_BYTES,
    PROTOCOL_VERSION,
    Hello,
    ProtocolError,
    Welcome,
    parse_frame,
)
from corral.protocol.messages import (
    Empty,
    GitCredential,
    NodeHeartbeat,
    NodeIsolation,
    NodeNetwork,
    TerminalAttach,
    TerminalAttached,
    TerminalCreate,
    TerminalInfo,
    TerminalList,
    TerminalQuery,
    TerminalRef,
    TerminalResize,
    WorkspaceList,
    WorkspacePublish,
    WorkspacePublished,
    WorkspaceRebuild,
    WorkspaceRef,
    WorkspaceSpec,
    WorkspaceStatus,
)
from corral.protocol.peer import Handler, Peer

__all__ = ["FatalLinkError", "NodeDaemon"]

log = logging.getLogger("corral.node.daemon")
HANDSHAKE_TIMEOUT_SECONDS = 10.0


class FatalLinkError(CorralError):
    """The control plane will never accept this node as it is (revoked, wrong version)."""


class _ClientTransport:
    def __init__(self, connection: ClientConnection) -> None:
        self._connection = connection

    async def send_text(self, text: str) -> None:
        await self._connection.send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self._connection.send(data)


def link_url(control_url: str) -> str:
    base = control_url.rstrip("/")
    scheme, _, rest = base.partition("://")
    ws_scheme = {"http": "ws", "https": "wss"}.get(scheme)
    if ws_scheme is None:
        raise InvalidInput(f"the control URL must be http or https, not {control_url!r}")
    return f"{ws_scheme}://{rest}/api/v1/nodes/link"


class NodeDaemon:
    def __init__(
        self,
        identity: NodeIdentity,
        workspaces: NodeWorkspaces,
        terminals: PtyHostClient,
        sessions: NodeSessions,
        *,
        network: NetworkEnvironment,
        ssl_context: ssl.SSLContext,
        allocatable: WorkspaceCapacity,
        reconnect_min_seconds: float,
        reconnect_max_seconds: float,
    ) -> None:
        self.identity = identity
        self.network = network
        self.ssl_context = ssl_context
        self.allocatable = allocatable
        self.workspaces = workspaces
        self.terminals = terminals
        self.sessions = sessions
        self.reconnect_min_seconds = reconnect_min_seconds
        self.reconnect_max_seconds = reconnect_max_seconds
        self.linked = asyncio.Event()
        self._peer: Peer | None = None

    async def run(self) -> None:
        """Stay linked until cancelled; raise `FatalLinkError` if the link can never work."""
        attempt = 0
        try:
            while True:
                try:
                    await self._link_once()
                    attempt = 0
                except FatalLinkError:
                    raise
                except (OSError, WebSocketException, TimeoutError, ProtocolError) as exc:
                    log.warning("node link failed: %s", exc or type(exc).__name__)
                except Exception:
                    # Whatever broke, the workspaces and terminals must outlive it: redial.
                    log.exception("node link failed")
                attempt += 1
                cap = min(self.reconnect_max_seconds, self.reconnect_min_seconds * 2**attempt)
                delay = random.uniform(self.reconnect_min_seconds, cap)
                log.info("redialling in %.1f s", delay)
                await asyncio.sleep(delay)
        finally:
            await self.sessions.shutdown()
            await self.workspaces.shutdown()
            await self.terminals.shutdown()

    async def _link_once(self) -> None:
        headers = {"Authorization": f"Bearer {self.identity.credential}"}
        url = link_url(self.identity.control_url)
        try:
            # The machine's proxy, as for joining: never for a control plane on the loopback.
            proxy = control_plane_proxy(url)
        except CorralError as exc:
            raise FatalLinkError(exc.message, reason="unusable_proxy") from None
        async with connect(
            url,
            proxy=proxy,
            # The trust joining used (corral.node.controlurl); websockets refuses one for ws://.
            ssl=self.ssl_context if url.startswith("wss://") else None,
            additional_headers=headers,
            max_size=MAX_TEXT_FRAME_BYTES + 4096,
            open_timeout=HANDSHAKE_TIMEOUT_SECONDS,
            ping_interval=20,
            ping_timeout=20,
            compression=None,  # see ws_per_message_deflate in corral.control.server
        ) as connection:
            welcome = await self._handshake(connection)
            peer = Peer(
                _ClientTransport(connection),
                handlers=self._handlers(),
                streams=self,
                name="the control plane",
            )
            self._peer = peer
            self.workspaces.notify = peer.notify
            self.workspaces.ask_credential = lambda request: peer.call(
                "git.credential", request, GitCredential
            )
            self.terminals.upstream = peer
            self.sessions.linked(peer)
            self.linked.set()
            log.info("linked to %s as node %s", self.identity.control_url, welcome.node_id)
            beats = asyncio.create_task(self._heartbeats(peer, welcome.heartbeat_interval_seconds))
            try:
                await self._serve(connection, peer)
            finally:
                self.linked.clear()
                self.workspaces.notify = None
                self.workspaces.ask_credential = None
                self.terminals.upstream = None
                self.sessions.linked(None)
                beats.cancel()
                await asyncio.gather(beats, return_exceptions=True)
                await peer.close("the link closed")
                await self.terminals.detach_all()

    async def _handshake(self, connection: ClientConnection) -> Welcome:
        await connection.send(
            Hello(protocol_version=PROTOCOL_VERSION, node_version=__version__).model_dump_json()
        )
        try:
            first = await asyncio.wait_for(connection.recv(), HANDSHAKE_TIMEOUT_SECONDS)
        except ConnectionClosed as exc:
            self._raise_if_fatal(exc)
            raise
        welcome = parse_frame(first)
        if not isinstance(welcome, Welcome):
            raise ProtocolError("expected a welcome frame")
        return welcome

    def _raise_if_fatal(self, exc: ConnectionClosed) -> None:
        code = exc.rcvd.code if exc.rcvd else None
        reason = exc.rcvd.reason if exc.rcvd else ""
        if code == CLOSE_UNAUTHORIZED:
            raise FatalLinkError(
                f"the control plane refused this node: {reason}", reason="node_refused"
            ) from exc
        if code == CLOSE_PROTOCOL_VERSION:
            raise FatalLinkError(
                f"the control plane refused this node: {reason}", reason="protocol_version"
            ) from exc

    async def _serve(self, connection: ClientConnection, peer: Peer) -> None:
        try:
            async for message in connection:
                if isinstance(message, bytes):
                    await peer.handle_bytes(message)
                else:
                    await peer.handle_text(message)
        except ProtocolError as exc:
            log.warning("the control plane broke the protocol: %s", exc)
            await connection.close(CLOSE_BAD_FRAME, str(exc)[:120])
        except ConnectionClosed as exc:
            self._raise_if_fatal(exc)

    async def _heartbeats(self, peer: Peer, interval: float) -> None:
        try:
            await self._beat_forever(peer, interval)
        except Exception:
            # A node that stops beating goes stale while linked: drop the link and redial.
            log.exception("heartbeats failed")
            await peer.close("heartbeats failed")
            raise

    async def _beat_forever(self, peer: Peer, interval: float) -> None:
        while True:
            health = read_machine_health(self.workspaces.state_dir)
            runtimes = self.workspaces.runtime_infos()
            beat = NodeHeartbeat(
                cpus=health.cpus,
                memory_total_bytes=health.memory_total,
                memory_used_bytes=health.memory_used,
                disk_total_bytes=health.disk_total,
                disk_used_bytes=health.disk_used,
                load1=health.load1,
                workspaces=self.workspaces.count(),
                terminals=await self._terminal_count(),
                node_version=__version__,
                sessions=self.sessions.count(),
                agents=self.sessions.installer.installed()[:200],
                isolation=runtimes[0].isolation if runtimes else NodeIsolation(),
                network=NodeNetwork(
                    variables=self.network.names, problems=self.network.problems[:20]
                ),
                runtimes=runtimes[:16],
                allocatable_cpus=self.allocatable.cpus,
                allocatable_memory_bytes=self.allocatable.memory_bytes,
            )
            with contextlib.suppress(CorralError):
                await peer.notify("heartbeat", beat)
            await asyncio.sleep(interval)

    # -- requests from the control plane -------------------------------------------------------

    def _handlers(self) -> dict[str, Handler]:
        return {
            "workspace.create": self._workspace_create,
            "workspace.start": self._workspace_start,
            "workspace.stop": self._workspace_stop,
            "workspace.delete": self._workspace_delete,
            "workspace.rebuild": self._workspace_rebuild,
            "workspace.list": self._workspace_list,
            "workspace.publish": self._workspace_publish,
            "terminal.create": self._terminal_create,
            "terminal.list": self._terminal_list,
            "terminal.delete": self._terminal_delete,
            "terminal.attach": self._terminal_attach,
            "terminal.resize": self._terminal_resize,
            **self.sessions.handlers(),
        }

    async def _workspace_create(self, spec: WorkspaceSpec) -> WorkspaceStatus:
        return await self.workspaces.create(spec)

    async def _workspace_start(self, ref: WorkspaceRef) -> WorkspaceStatus:
        return await self.workspaces.start(ref.id)

    async def _workspace_stop(self, ref: WorkspaceRef) -> WorkspaceStatus:
        await self.sessions.close_workspace(ref.id)
        return await self.workspaces.stop(ref.id)

    async def _workspace_delete(self, ref: WorkspaceRef) -> WorkspaceStatus:
        await self.sessions.close_workspace(ref.id)
        return await self.workspaces.delete(ref.id)

    async def _workspace_rebuild(self, request: WorkspaceRebuild) -> WorkspaceStatus:
        await self.sessions.close_workspace(request.id)
        return await self.workspaces.rebuild(request)

    async def _workspace_publish(self, request: WorkspacePublish) -> WorkspacePublished:
        return await self.workspaces.publish(request)

    async def _workspace_list(self, _: Empty) -> WorkspaceList:
        return await self.workspaces.list()

    async def _terminal_create(self, request: TerminalCreate) -> TerminalInfo:
        async with self.workspaces.lock(request.workspace_id):
            runtime, handle = self.workspaces.runtime_of(request.workspace_id)
            spec = runtime.command(
                handle,
                runtime.shell(handle),
                env={**request.env, "TERM": "xterm-256color"},
                tty=True,
            )
            return await self.terminals.create(
                request.workspace_id, spec, request.cols, request.rows
            )

    async def _terminal_list(self, query: TerminalQuery) -> TerminalList:
        return TerminalList(terminals=await self.terminals.list(query.workspace_id))

    async def _terminal_delete(self, ref: TerminalRef) -> Empty:
        await self.terminals.delete(ref.workspace_id, ref.terminal_id)
        return Empty()

    async def _terminal_attach(self, request: TerminalAttach) -> TerminalAttached:
        return await self.terminals.attach(request)

    async def _terminal_resize(self, request: TerminalResize) -> Empty:
        await self.terminals.resize(request)
        return Empty()

    async def _terminal_count(self) -> int:
        with contextlib.suppress(CorralError):
            await self.terminals.list()
            await self.terminals.retire_if_idle()
        return self.terminals.count()

    # -- stream frames from the control plane --------------------------------------------------

    async def on_data(self, stream: int, data: bytes) -> None:
        await self.terminals.input(stream, data)

    async def on_window(self, stream: int, granted: int) -> None:
        await self.terminals.grant(stream, granted)

    async def on_close(self, stream: int, reason: str) -> None:
        await self.terminals.detach(stream)
