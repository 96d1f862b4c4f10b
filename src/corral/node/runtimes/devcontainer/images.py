"""Which image a workspace's container runs: the node's default, or one the dev container CLI
read (and built) from the repository's configuration, known ahead from the checkout's commit
when the CLI read the same configuration before."""

from __future__ import annotations

import asyncio
from typing import Any

from corral.gitenv import git_env
from corral.netenv import NetworkEnvironment
from corral.node.runtimes._area import Area
from corral.node.runtimes.base import Progress
from corral.node.runtimes.devcontainer.config import (
    BuildFailed,
    ResolvedConfig,
    find_config,
    key_from_commit,
)
from corral.node.runtimes.devcontainer.engine import DockerEngine
from corral.node.runtimes.devcontainer.tools import DevcontainerTools

__all__ = ["DEFAULT_SOURCE", "Images"]

DEFAULT_SOURCE = "the node's default image"


class Images:
    def __init__(
        self,
        engine: DockerEngine,
        tools: DevcontainerTools,
        default_image: str,
        network: NetworkEnvironment,
    ) -> None:
        self.engine = engine
        self.tools = tools
        self.default_image = default_image
        self.network = network

    async def known(self, area: Area) -> ResolvedConfig | None:
        """The configuration of the checkout's commit if no CLI is needed to know it: none in
        the commit (the default image), or one the CLI read before."""
        found = await key_from_commit(area.repo, git_env(self.network.tool_env()))
        if found is None:
            return self.default()
        return self.tools.cli().cached(found[1])

    async def resolve(
        self, area: Area, progress: Progress, *, rebuild: bool, default_image: bool = False
    ) -> ResolvedConfig:
        """The checkout's configuration, or the default image's when it has none or
        `default_image`; read and built with the CLI, or from its cache unless `rebuild`."""
        config = None if default_image else find_config(area.repo)
        if config is None:
            if not default_image:
                progress("the repository has no devcontainer.json: using the default image")
            return self.default()
        return await self.tools.cli().resolve(area.repo, config, progress, rebuild=rebuild)

    def default(self) -> ResolvedConfig:
        return ResolvedConfig(image=self.default_image, source=DEFAULT_SOURCE)

    async def image(
        self,
        area: Area,
        config: ResolvedConfig,
        progress: Progress,
        rebuilt: bool,
        files: asyncio.Task[None] | None,
    ) -> tuple[ResolvedConfig, dict[str, Any]]:
        """The configuration's image, built again if it went (an image prune), or pulled."""
        image = await self.engine.image(config.image)
        if image is None and config.source != DEFAULT_SOURCE and not rebuilt:
            if files is not None:
                await files
            config = await self.resolve(area, progress, rebuild=True)
            image = await self.engine.image(config.image)
        if image is None:
            progress(f"pulling {config.image}")
            await self.engine.pull(config.image, progress)
            image = await self.engine.image(config.image)
        if image is None:
            raise BuildFailed(f"the image {config.image} ({config.source}) is not on this node")
        return config, image
