"""The nodes linked to this control plane process, by node id.

In memory: one control plane process serves each node's link. Running several replicas will
need routing through a shared channel (see DESIGN.md); everything goes through this class so
that change stays in one place.
"""

from __future__ import annotations

import asyncio

from corral.control.nodelink.connection import NodeConnection
from corral.errors import RetryableProviderError
from corral.protocol.frames import CLOSE_RESTART

__all__ = ["NodeRegistry"]


class NodeRegistry:
    def __init__(self) -> None:
        self._connections: dict[str, NodeConnection] = {}
        self._changed = asyncio.Condition()

    async def add(self, connection: NodeConnection) -> NodeConnection | None:
        """Register a node's new link; return the link it replaces, if any (for closing)."""
        async with self._changed:
            old = self._connections.get(connection.node_id)
            self._connections[connection.node_id] = connection
            self._changed.notify_all()
        return old

    async def remove(self, connection: NodeConnection) -> None:
        async with self._changed:
            if self._connections.get(connection.node_id) is connection:
                del self._connections[connection.node_id]
            self._changed.notify_all()

    def is_connected(self, node_id: str) -> bool:
        return node_id in self._connections

    def connection(self, node_id: str) -> NodeConnection | None:
        return self._connections.get(node_id)

    def get(self, node_id: str, node_name: str | None = None) -> NodeConnection:
        connection = self._connections.get(node_id)
        if connection is None:
            raise RetryableProviderError(
                f"node {node_name or node_id} is not connected; check it with `corral node list`",
                reason="node_not_connected",
            )
        return connection

    async def wait_for(self, node_id: str, timeout_seconds: float) -> NodeConnection | None:
        """The node's link once it is up, waiting up to `timeout_seconds`; None if it is not."""
        async with self._changed:
            try:
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: node_id in self._connections), timeout_seconds
                )
            except TimeoutError:
                return None
            return self._connections[node_id]

    def connections(self) -> list[NodeConnection]:
        return list(self._connections.values())

    async def close_all(self, reason: str) -> None:
        """Cut every link as "service restart" (1012): nodes redial at once, not as failures."""
        for connection in self.connections():
            await connection.close(reason, code=CLOSE_RESTART)
