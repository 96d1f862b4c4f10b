"""The programs a dev container node installs for itself, with npm into its tool cache: the dev
container CLI (run on the node) and an official Node.js build (mounted into every container, for
agents, whatever the image has). Both pinned by the runtime's settings."""

from __future__ import annotations

import os
import platform
import shutil
from pathlib import Path

from corral.netenv import NetworkEnvironment
from corral.node.npmcache import NpmCache
from corral.node.runtimes._area import DEFAULT_PATH
from corral.node.runtimes.base import Progress
from corral.node.runtimes.devcontainer.config import DevcontainerCli
from corral.node.runtimes.devcontainer.execs import DockerClient
from corral.node.runtimes.devcontainer.settings import DevcontainerSettings

__all__ = ["DevcontainerTools"]


class DevcontainerTools:
    def __init__(
        self,
        tools_dir: Path,
        state_dir: Path,
        *,
        docker: DockerClient,
        settings: DevcontainerSettings,
        network: NetworkEnvironment,
    ) -> None:
        self.tools_dir = tools_dir
        self.state_dir = state_dir
        self.docker = docker
        self.settings = settings
        self.network = network
        self.npm = NpmCache(tools_dir, network=network)

    async def node_binary(self, progress: Progress) -> Path:
        """Node.js for containers: npm's `node-linux-<arch>`, an official build (glibc)."""
        arch = {"x86_64": "x64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
        package = f"node-linux-{arch}"
        directory = await self.npm.ensure(package, self.settings.node_version, progress)
        return directory / "node_modules" / package / "bin" / "node"

    def cli(self) -> DevcontainerCli:
        """The dev container CLI, installed when first run, on the node's Node.js if it has
        one, else on the build above."""

        async def program(progress: Progress) -> list[str]:
            directory = await self.npm.ensure(
                "@devcontainers/cli", self.settings.cli_version, progress
            )
            script = directory / "node_modules" / "@devcontainers" / "cli" / "devcontainer.js"
            node = shutil.which("node") or str(await self.node_binary(progress))
            return [node, str(script), "--docker-path", self.docker.program]

        tmp = self.state_dir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True, mode=0o700)
        env = {
            **self.network.tool_env(),
            "DOCKER_HOST": self.docker.host,
            "DOCKER_CONFIG": str(self.docker.config_dir),
            "TMPDIR": str(tmp),
            "PATH": os.environ.get("PATH", DEFAULT_PATH),
        }
        return DevcontainerCli(
            program,
            env=env,
            cache_dir=self.state_dir / "configs",
            timeout_seconds=self.settings.build_timeout_seconds,
        )
