"""The nodes this control plane can reach, by node id: those linked to this process, and, with
replicas, those linked to another replica (reached through it, `corral.control.replicas`).

Everything that talks to a node asks here, so where a node's link is stays in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Protocol

from corral.control.nodelink.connection import NodeConnection
from corral.errors import RetryableProviderError
from corral.protocol.frames import CLOSE_NORMAL, CLOSE_RESTART
from corral.protocol.messages import Body
from corral.protocol.peer import ResultT

if TYPE_CHECKING:
    from corral.control.replicas.directory import LinkDirectory

__all__ = ["NodeCalls", "NodeRegistry"]

log = logging.getLogger("corral.nodelink")


class NodeCalls(Protocol):
    """What services ask of a linked node, wherever its link is held."""

    node_id: str
    node_name: str

    async def request(
        self, method: str, params: Body, *, timeout_seconds: float | None = None
    ) -> Body: ...

    async def call(
        self,
        method: str,
        params: Body,
        result: type[ResultT],
        *,
        timeout_seconds: float | None = None,
    ) -> ResultT: ...


class NodeRegistry:
    def __init__(self) -> None:
        self._connections: dict[str, NodeConnection] = {}
        self._changed = asyncio.Event()
        self._directory: LinkDirectory | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def use_directory(self, directory: LinkDirectory) -> None:
        """Reach nodes linked to other replicas through them (`directory` says which)."""
        self._directory = directory
        directory.on_change = self._wake
        directory.on_claimed_elsewhere = self._linked_elsewhere
        directory.on_cut = self._cut
        directory.local_nodes = self._connections.keys

    def _wake(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def add(self, connection: NodeConnection) -> NodeConnection | None:
        """Register a node's new link; return the link it replaces, if any (for closing)."""
        old = self._connections.get(connection.node_id)
        self._connections[connection.node_id] = connection
        self._wake()
        if self._directory is not None:
            # If this fails, the link is served all the same (the caller removes it if not)
            # and the heartbeat records the claim.
            await self._directory.claim(connection.node_id)
        return old

    async def remove(self, connection: NodeConnection) -> None:
        if self._connections.get(connection.node_id) is connection:
            del self._connections[connection.node_id]
            if self._directory is not None:
                with contextlib.suppress(Exception):
                    await self._directory.release(connection.node_id)
        self._wake()

    def _linked_elsewhere(self, node_id: str) -> None:
        connection = self._connections.get(node_id)
        if connection is not None:
            self._spawn(self._drop_if_stale(connection))

    async def _drop_if_stale(self, connection: NodeConnection) -> None:
        """Another replica says it has the node's link: close this one if it is the older."""
        assert self._directory is not None
        try:
            if await self._directory.held_elsewhere(connection.node_id):
                await connection.close("the node linked again", code=CLOSE_NORMAL)
        except Exception:
            log.exception("could not check where node %s is linked", connection.node_name)

    async def disconnect(self, node_id: str, reason: str, code: int) -> None:
        """Cut the node's link with a close `code`, on whichever replica holds it."""
        if self._directory is not None:
            self._directory.cut(node_id, reason, code)
        connection = self._connections.get(node_id)
        if connection is not None:
            await connection.close(reason, code=code)

    def _cut(self, node_id: str, reason: str, code: int) -> None:
        connection = self._connections.get(node_id)
        if connection is not None:
            self._spawn(connection.close(reason, code=code))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def local(self, node_id: str) -> NodeConnection | None:
        """The node's link if this process holds it (terminal streams need that)."""
        return self._connections.get(node_id)

    def is_connected(self, node_id: str) -> bool:
        return self.connection(node_id) is not None

    def connection(self, node_id: str, node_name: str | None = None) -> NodeCalls | None:
        local = self._connections.get(node_id)
        if local is not None or self._directory is None:
            return local
        return self._directory.forwarded(node_id, node_name)

    def get(self, node_id: str, node_name: str | None = None) -> NodeCalls:
        connection = self.connection(node_id, node_name)
        if connection is None:
            raise RetryableProviderError(
                f"node {node_name or node_id} is not connected; check it with `corral node list`",
                reason="node_not_connected",
            )
        return connection

    async def wait_for(self, node_id: str, timeout_seconds: float) -> NodeCalls | None:
        """The node's link once it is up (here or on another replica), waiting up to
        `timeout_seconds`; None if it is not."""
        deadline = time.monotonic() + timeout_seconds
        while (found := self.connection(node_id)) is None:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)
        return found

    def connections(self) -> list[NodeConnection]:
        return list(self._connections.values())

    async def close_all(self, reason: str) -> None:
        """Cut every link as "service restart" (1012): nodes redial at once, not as failures."""
        for connection in self.connections():
            await connection.close(reason, code=CLOSE_RESTART)
