"""The WebSocket nodes dial: authenticate, check the protocol version, then serve the link.

A node that sends garbage or speaks another protocol version is logged and disconnected with a
close code and reason; nothing it sends can reach another node's workspaces, because every
event is checked against the node the link belongs to.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from corral.control.api.constants import API_PREFIX
from corral.control.api.errors import close_reason
from corral.control.db.models import Node
from corral.control.nodelink.connection import NodeConnection
from corral.control.services import gitaccess, nodes, workspaces
from corral.control.services.sessions.ingest import mark_node_sessions_gone
from corral.control.state import AppState
from corral.errors import CorralError
from corral.protocol.frames import (
    CLOSE_BAD_FRAME,
    CLOSE_NORMAL,
    CLOSE_PROTOCOL_VERSION,
    CLOSE_UNAUTHORIZED,
    PROTOCOL_VERSION,
    Hello,
    ProtocolError,
    Welcome,
    parse_frame,
)
from corral.protocol.messages import (
    Body,
    Empty,
    GitCredential,
    GitCredentialRequest,
    NodeHeartbeat,
    WorkspaceList,
    WorkspaceProgress,
    WorkspaceStatus,
)
from corral.protocol.peer import Transport
from corral.protocol.sessions import SessionEvents, SessionEventsAck, SessionList

__all__ = ["NodeLink", "router"]

log = logging.getLogger("corral.nodelink")
router = APIRouter()
HELLO_TIMEOUT_SECONDS = 10.0
LINK_PATH = f"{API_PREFIX}/nodes/link"


class _WebSocketTransport:
    def __init__(self, websocket: WebSocket) -> None:
        self._websocket = websocket

    async def send_text(self, text: str) -> None:
        await self._websocket.send_text(text)

    async def send_bytes(self, data: bytes) -> None:
        await self._websocket.send_bytes(data)


async def _authenticate(websocket: WebSocket, state: AppState) -> Node | None:
    scheme, _, credential = websocket.headers.get("authorization", "").partition(" ")
    try:
        if scheme.lower() != "bearer" or not credential:
            raise CorralError("the node link needs 'Authorization: Bearer <node credential>'")
        async with state.db() as db:
            return await nodes.authenticate_node(db, credential.strip())
    except CorralError as exc:
        log.warning("refused a node link: %s", exc.message)
        await websocket.close(CLOSE_UNAUTHORIZED, close_reason(exc.message))
        return None


async def _handshake(websocket: WebSocket, node: Node) -> Hello | None:
    try:
        text = await asyncio.wait_for(websocket.receive_text(), HELLO_TIMEOUT_SECONDS)
        hello = parse_frame(text)
    except WebSocketDisconnect:
        return None
    except (TimeoutError, ProtocolError, KeyError, RuntimeError) as exc:
        log.warning("node %s sent no valid hello: %s", node.name, exc)
        await websocket.close(CLOSE_BAD_FRAME, "expected a hello frame")
        return None
    if not isinstance(hello, Hello):
        await websocket.close(CLOSE_BAD_FRAME, "expected a hello frame")
        return None
    if hello.protocol_version != PROTOCOL_VERSION:
        log.warning(
            "node %s speaks protocol %s, not %s",
            node.name,
            hello.protocol_version,
            PROTOCOL_VERSION,
        )
        await websocket.close(
            CLOSE_PROTOCOL_VERSION,
            f"protocol version {hello.protocol_version} is not supported; "
            f"this control plane speaks {PROTOCOL_VERSION}",
        )
        return None
    return hello


class NodeLink:
    """One node's linked session, whatever carries it (the WebSocket below; an in-memory pipe in
    tests): serves the node's events and its `session.events` requests, and reconciles its
    workspaces and sessions whenever the node comes back (a new link, or heartbeats again after
    going stale)."""

    def __init__(
        self,
        state: AppState,
        node: Node,
        transport: Transport,
        *,
        disconnect: Callable[[int, str], Awaitable[None]],
    ) -> None:
        self.state, self.node = state, node
        self.connection = NodeConnection(
            node.id,
            node.name,
            transport,
            on_event=self.on_event,
            handlers={
                "session.events": self.on_session_events,
                "git.credential": self.on_git_credential,
            },
            request_timeout_seconds=state.settings.nodes.request_timeout_seconds,
            disconnect=disconnect,
            window_budget_bytes=state.settings.nodes.terminal_link_window_bytes,
            min_stream_window_bytes=state.settings.nodes.terminal_min_window_bytes,
        )
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self, *, node_version: str, receive: Callable[[], Awaitable[None]]) -> None:
        """Serve the node, which has said hello, until `receive` (which feeds the link's peer what
        the node sends) returns: registered with the node registry, replacing its earlier link,
        marked ready and reconciled; unregistered after. A `CorralError` cuts the link as
        `CLOSE_BAD_FRAME`."""
        state, node, connection = self.state, self.node, self.connection
        try:
            replaced = await state.node_registry.add(connection)
            if replaced is not None:
                await replaced.close("the node linked again", code=CLOSE_NORMAL)
            async with state.db() as db:
                linked = await db.get(Node, node.id)
                if linked is not None:
                    await nodes.mark_linked(db, linked, version=node_version)
            log.info("node %s linked", node.name, extra={"node_id": node.id})
            state.placement_due.set()
            self.reconcile_soon()
            await receive()
        except CorralError as exc:
            log.warning("node %s could not link: %s", node.name, exc.message)
            await connection.close(exc.message, code=CLOSE_BAD_FRAME)
        finally:
            await self.stop()
            await state.node_registry.remove(connection)
            await connection.close("the node link closed")
            log.info("node %s unlinked", node.name, extra={"node_id": node.id})

    async def on_event(self, name: str, params: Body) -> None:
        async with self.state.db() as db:
            if isinstance(params, NodeHeartbeat):
                if await nodes.heartbeat(db, self.node.id, params):
                    self.reconcile_soon()
            elif isinstance(params, WorkspaceStatus):
                await workspaces.apply_node_status(db, self.node.id, params)
            elif isinstance(params, WorkspaceProgress):
                self.state.provisioning_logs.append(self.node.id, params.id, params.line)
        if isinstance(params, NodeHeartbeat | WorkspaceStatus):
            # What the node has, or what its workspaces hold, changed: pending ones may fit.
            self.state.placement_due.set()

    async def on_session_events(self, batch: SessionEvents) -> SessionEventsAck:
        # A node keeps several batches in flight; the ingester stores them in the order they
        # arrived, which each request keeps by handing its batch over before it first awaits.
        acked = await self.state.ingester.store(self.node.id, batch)
        return SessionEventsAck(session_id=batch.session_id, acked_seq=acked)

    async def on_git_credential(self, request: GitCredentialRequest) -> GitCredential:
        """A credential for git in one of this node's own workspaces, for one command."""
        async with self.state.db() as db:
            return await gitaccess.node_credential(
                db,
                self.state.secret_box,
                self.state.settings.github,
                node_id=self.node.id,
                request=request,
            )

    def reconcile_soon(self) -> None:
        # In a task: the node's answer arrives through the same receive loop that called us.
        task = asyncio.create_task(self._reconcile())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reconciled(self) -> None:
        """Wait for the reconciles under way (tests wait for them before looking)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _reconcile(self) -> None:
        try:
            reported = await self.connection.call("workspace.list", Empty(), WorkspaceList)
            async with self.state.db() as db:
                await workspaces.reconcile_node(db, self.node.id, reported)
            running = await self.connection.call("session.list", Empty(), SessionList)
            async with self.state.db() as db:
                await mark_node_sessions_gone(
                    db,
                    self.state.session_hub,
                    self.node.id,
                    {s.id for s in running.sessions},
                    reason=f"the agent ended with node {self.node.name}'s agent process",
                )
        except CorralError as exc:
            log.warning("could not reconcile node %s: %s", self.node.name, exc.message)
        except Exception:
            log.exception("could not reconcile node %s", self.node.name)

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@router.websocket(LINK_PATH)
async def node_link(websocket: WebSocket) -> None:
    state: AppState = websocket.app.state.corral
    await websocket.accept()
    node = await _authenticate(websocket, state)
    if node is None:
        return
    hello = await _handshake(websocket, node)
    if hello is None:
        return
    interval = state.settings.nodes.heartbeat_interval_seconds
    await websocket.send_text(
        Welcome(
            protocol_version=PROTOCOL_VERSION, node_id=node.id, heartbeat_interval_seconds=interval
        ).model_dump_json()
    )
    link = NodeLink(state, node, _WebSocketTransport(websocket), disconnect=websocket.close)
    await link.run(
        node_version=hello.node_version, receive=lambda: _serve(websocket, link.connection)
    )


async def _serve(websocket: WebSocket, connection: NodeConnection) -> None:
    try:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is not None:
                await connection.peer.handle_bytes(message["bytes"])
            elif message.get("text") is not None:
                await connection.peer.handle_text(message["text"])
    except ProtocolError as exc:
        log.warning("node %s broke the protocol: %s", connection.node_name, exc)
        await websocket.close(CLOSE_BAD_FRAME, close_reason(str(exc)))
    except WebSocketDisconnect:
        return
