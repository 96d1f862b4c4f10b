"""Each workspace's bridge network, made one ahead.

A workspace has a network of its own (Docker then keeps workspaces from reaching each other).
Making one costs the engine about 100 ms (a bridge, its iptables chains), which would sit on
the path of every new workspace; so the pool keeps one spare, made in the background after each
workspace takes one. The spare's name is kept in a file of the node's, so a restarted node
uses it rather than leaving it behind; a workspace notes the network it took in its own area,
so deleting it, or cleaning up after a failed create, removes the network too.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from pathlib import Path

from corral.node.runtimes.devcontainer.engine import DockerEngine, EngineError

__all__ = ["NetworkPool"]

log = logging.getLogger("corral.runtimes.devcontainer")

NETWORK_FILE = ".corral-network"
"""In a workspace's area: the name of the network it took."""


class NetworkPool:
    def __init__(
        self,
        engine: DockerEngine,
        *,
        bridge_prefix: str,
        spare_file: Path,
        labels: Callable[[], dict[str, str]],
    ) -> None:
        self.engine = engine
        self.bridge_prefix = bridge_prefix
        self.spare_file = spare_file
        self.labels = labels
        self._making: asyncio.Task[str] | None = None

    async def take(self, area: Path) -> str:
        """A network for the workspace whose area is `area` (noted there)."""
        name = await self._spare() or await self._make()
        (area / NETWORK_FILE).write_text(name)
        return name

    def refill(self) -> None:
        """Make a new spare in the background, unless one is there or on its way. Called once
        the taker's container runs: making a network meanwhile would slow the engine's start of
        that container, which waits on the same locks."""
        if self._making is None and not self.spare_file.exists():
            self._making = asyncio.create_task(self._make_spare(), name="spare network")

    async def remove(self, area: Path) -> None:
        """The network the workspace at `area` took, if it took one."""
        with contextlib.suppress(FileNotFoundError):
            await self.engine.remove_network((area / NETWORK_FILE).read_text().strip())

    async def close(self) -> None:
        if self._making is not None:
            self._making.cancel()
            await asyncio.gather(self._making, return_exceptions=True)

    async def _spare(self) -> str | None:
        """The spare, taken (its file removed), if there is one that still exists."""
        if self._making is not None:
            with contextlib.suppress(EngineError):
                await self._making
            self._making = None
        try:
            name = self.spare_file.read_text().strip()
        except FileNotFoundError:
            return None
        self.spare_file.unlink(missing_ok=True)
        return name if name and await self.engine.network_exists(name) else None

    async def _make_spare(self) -> str:
        name = await self._make()
        partial = self.spare_file.with_suffix(".partial")
        partial.write_text(name)
        partial.replace(self.spare_file)
        return name

    async def _make(self) -> str:
        suffix = secrets.token_hex(6)
        name = f"corral-{suffix}"
        await self.engine.create_network(
            {
                "Name": name,
                "Driver": "bridge",
                "CheckDuplicate": True,
                "Labels": self.labels(),
                "Options": {
                    # The firewall matches the workspaces' bridges by this prefix.
                    "com.docker.network.bridge.name": (self.bridge_prefix + suffix)[:15],
                    "com.docker.network.bridge.enable_icc": "false",
                },
            }
        )
        return name
