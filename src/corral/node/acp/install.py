"""Installs agents from npm into the node's shared agent cache (see `corral.node.npmcache`).

The catalog pins each agent's package and version; the cache keeps one install per version,
shared by every workspace of the node.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from corral.netenv import NetworkEnvironment
from corral.node.npmcache import NPM, InstallFailed, NpmCache
from corral.protocol.agents import AgentLaunch

__all__ = ["AgentInstaller", "InstallFailed"]

Progress = Callable[[str], None]


class AgentInstaller:
    def __init__(
        self, cache_dir: Path, *, npm: str = NPM, network: NetworkEnvironment | None = None
    ) -> None:
        self.cache = NpmCache(cache_dir, npm=npm, network=network)

    def installed(self) -> list[str]:
        """`package@version` of every complete install."""
        return self.cache.installed()

    async def ensure(self, agent: AgentLaunch, progress: Progress) -> tuple[list[str], Path | None]:
        """The agent's argv (its program resolved in the cache) and the directory a sandbox
        must show read-only, installing the package first if needed."""
        if agent.package is None:
            return list(agent.command), None
        assert agent.version is not None
        directory = await self.cache.ensure(agent.package, agent.version, progress)
        program = directory / "node_modules" / ".bin" / agent.command[0]
        if not program.exists():
            raise InstallFailed(
                f"{agent.package}@{agent.version} has no program named {agent.command[0]!r}"
            )
        return [str(program), *agent.command[1:]], directory
