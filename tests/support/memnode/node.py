"""`MemoryNode`: the in-memory node's link to the control plane, what it reports of itself, and
its parts put together (see `tests.support.memnode`)."""

from __future__ import annotations

import asyncio
from typing import Any

from corral.control.api.nodelink import NodeLink
from corral.control.db.models import Node, User
from corral.control.services import nodes
from corral.control.state import AppState
from corral.protocol.frames import CLOSE_BAD_FRAME, ProtocolError
from corral.protocol.messages import (
    Body,
    NodeHeartbeat,
    RuntimeInfo,
    WorkspaceProgress,
    WorkspaceStatus,
)
from corral.protocol.peer import Handler, Peer
from corral.states import WorkspaceState
from tests.support.memnode.sessions import SessionsPart
from tests.support.memnode.workspaces import WorkspacesPart
from tests.support.pipe import Pipe

__all__ = ["NODE_VERSION", "MemoryNode"]

NODE_VERSION = "0.0.0-memory"
LINK_TIMEOUT_SECONDS = 5.0


class MemoryNode(SessionsPart, WorkspacesPart):
    def __init__(self, state: AppState, node: Node) -> None:
        super().__init__(state, node)
        self.closed_with: tuple[int, str] | None = None
        """The close code and reason, when the control plane cut the link."""
        self._link: NodeLink | None = None
        self._served: asyncio.Task[None] | None = None
        self._unlinked = asyncio.Event()
        self._receiving = asyncio.Event()
        self._to_control, self._to_node = Pipe(), Pipe()
        self.reports: dict[str, Any] = {}
        """Heartbeat fields every heartbeat carries, over the defaults (`heartbeat`)."""

    # -- life ---------------------------------------------------------------------------------

    @classmethod
    async def join(
        cls,
        state: AppState,
        owner: User,
        name: str,
        *,
        link: bool = True,
        runtimes: list[RuntimeInfo] | None = None,
        **reports: Any,
    ) -> MemoryNode:
        """Add a node as the owner does, join it with its token, and (with `link`) link it.
        `runtimes` (default: host) and `reports` (heartbeat fields: `cpus`,
        `allocatable_memory_bytes` …) are what its heartbeats say of it."""
        async with state.db() as db:
            node, token = await nodes.create_node(
                db, owner, name, provider="manual", ttl_seconds=60
            )
            node, _ = await nodes.join_node(db, token)
        memory = cls(state, node)
        if runtimes is not None:
            memory.runtimes = runtimes
        memory.reports.update(reports)
        if link:
            await memory.link()
        return memory

    async def link(self) -> None:
        """Dial in: the control plane registers the link, marks the node ready and reconciles its
        workspaces and sessions; returns once that is done, the outbox is sent, and the first
        heartbeat (a node beats at once) is handled."""
        assert not self.linked, "already linked"
        to_control, to_node = Pipe(), Pipe()
        self.peer = Peer(to_control, handlers=self._handlers(), streams=self, name="control plane")
        self._link = NodeLink(self.state, self.node, to_node, disconnect=self._cut)
        to_control.receiver, to_node.receiver = self._link.connection.peer, self.peer
        self._to_control, self._to_node = to_control, to_node
        self._unlinked.clear()
        self._receiving.clear()
        self.closed_with = None
        pump_to_node = self._spawn(to_node.pump())
        self._served = asyncio.create_task(
            self._link.run(node_version=NODE_VERSION, receive=self._receive)
        )
        self._served.add_done_callback(lambda _: pump_to_node.cancel())
        receiving = asyncio.ensure_future(self._receiving.wait())
        await asyncio.wait(
            {receiving, self._served},
            timeout=LINK_TIMEOUT_SECONDS,
            return_when=asyncio.FIRST_COMPLETED,
        )
        receiving.cancel()
        if not self._receiving.is_set():
            raise AssertionError(f"node {self.name} did not link")
        await self._link.reconciled()
        await self.flush()
        await self.heartbeat()

    async def _receive(self) -> None:
        """The control plane's receive loop, until the link drops."""
        self._receiving.set()
        pump = asyncio.create_task(self._to_control.pump())
        unlinked = asyncio.create_task(self._unlinked.wait())
        try:
            await asyncio.wait({pump, unlinked}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, unlinked):
                task.cancel()
            await asyncio.gather(pump, unlinked, return_exceptions=True)
            if self.peer is not None:
                await self.peer.close("the link closed")
        failure = pump.exception() if pump.done() and not pump.cancelled() else None
        if isinstance(failure, ProtocolError):  # the WebSocket endpoint drops such a link
            self.closed_with = (CLOSE_BAD_FRAME, str(failure))
        elif failure is not None:
            raise failure

    async def _cut(self, code: int, reason: str) -> None:
        """The control plane closes the link (a newer link of this node, a shutdown)."""
        self.closed_with = (code, reason)
        self._unlinked.set()
        if self.peer is not None:
            await self.peer.close(reason)

    async def unlink(self) -> None:
        """The link drops (the node's process dies, the network goes): the control plane
        forgets it. The node keeps what it runs, and its unsent events."""
        self._unlinked.set()
        if self._served is not None:
            await self._served
        if self.peer is not None:
            await self.peer.close("the link dropped")

    async def received(self) -> None:
        """Wait until the node has taken every frame the control plane sent so far (stream
        bytes included; a request's answer is awaited by whoever sent it)."""
        await self._to_node.drained()

    async def reconciled(self) -> None:
        """Wait for the reconcile the control plane started (after a heartbeat of a stale
        node, say)."""
        if self._link is not None:
            await self._link.reconciled()

    async def close(self) -> None:
        """End the test's node: unlink and stop what it started."""
        await self.unlink()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def _handlers(self) -> dict[str, Handler]:
        served = {**self._workspace_handlers(), **self._session_handlers()}
        return {method: self._recorded(method, handler) for method, handler in served.items()}

    # -- what the node tells the control plane ------------------------------------------------

    async def _notify(self, name: str, params: Body) -> None:
        assert self.peer is not None and self.linked, f"node {self.name} is not linked"
        await self.peer.notify(name, params)
        await self._to_control.drained()

    async def heartbeat(self, **fields: Any) -> None:
        """A heartbeat, handled by the control plane when this returns (and a reconcile it
        starts for a stale node that is back, done). `fields` override `reports` for this one."""
        beat = {
            "cpus": 4,
            "memory_total_bytes": 8 << 30,
            "memory_used_bytes": 1 << 30,
            "disk_total_bytes": 100 << 30,
            "disk_used_bytes": 10 << 30,
            "load1": 0.5,
            "workspaces": len(self.workspaces),
            "terminals": len(self.terminals),
            "sessions": sum(1 for s in self.sessions.values() if not s.ended),
            "node_version": NODE_VERSION,
            "runtimes": self.runtimes,
            **self.reports,
            **fields,
        }
        await self._notify("heartbeat", NodeHeartbeat.model_validate(beat))
        await self.reconciled()

    async def report(
        self, workspace_id: str, state: WorkspaceState, reason: str | None = None
    ) -> None:
        """A workspace's new state (a clone that finished or failed, say), handled by the
        control plane when this returns."""
        status = WorkspaceStatus(id=workspace_id, state=state, reason=reason)
        if state == WorkspaceState.DELETED:
            self.workspaces.pop(workspace_id, None)
        else:
            self.workspaces[workspace_id] = status
        await self._notify("workspace.state", status)

    async def progress(self, workspace_id: str, line: str) -> None:
        await self._notify("workspace.progress", WorkspaceProgress(id=workspace_id, line=line))
