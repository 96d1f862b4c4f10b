"""Installs npm packages into a cache of the node's, once per package version.

Each version goes to `<cache>/<package>@<version>/` and is shared by every workspace on the node
(read-only inside their sandboxes and containers). An install is made in a temporary directory
and renamed into place when complete, so a crash half-way leaves nothing that looks installed;
concurrent callers wanting the same package wait for the one install.

npm runs with `--ignore-scripts`: install scripts would run as the node's user, outside any
sandbox, with access to the node's credential. The packages Corral installs need none.

An install is made readable by everyone, whatever the node's umask (`corral up` runs with 077):
on a root node each workspace runs as a uid of its own, which must be able to run what is there.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import stat
from collections import deque
from collections.abc import Callable
from pathlib import Path

from corral.errors import CorralError
from corral.netenv import NetworkEnvironment
from corral.processes import run_tool

__all__ = ["InstallFailed", "NpmCache"]

INSTALL_TIMEOUT_SECONDS = 15 * 60.0
MAX_LINE_CHARS = 2000
TAIL_LINES = 20
NPM = "npm"

Progress = Callable[[str], None]


class InstallFailed(CorralError):
    reason = "agent_install_failed"


class NpmCache:
    def __init__(
        self, cache_dir: Path, *, npm: str = NPM, network: NetworkEnvironment | None = None
    ) -> None:
        self.cache_dir = cache_dir
        self.npm = npm
        self.network = network or NetworkEnvironment()
        self._locks: dict[str, asyncio.Lock] = {}

    def directory(self, package: str, version: str) -> Path:
        return self.cache_dir / f"{package.replace('/', '+')}@{version}"

    def installed(self) -> list[str]:
        """`package@version` of every complete install."""
        if not self.cache_dir.is_dir():
            return []
        return sorted(
            p.name.replace("+", "/")
            for p in self.cache_dir.iterdir()
            if p.is_dir() and not p.name.startswith(".")
        )

    async def ensure(self, package: str, version: str, progress: Progress) -> Path:
        """The directory of `package@version`'s install, installing it first if needed."""
        directory = self.directory(package, version)
        lock = self._locks.setdefault(str(directory), asyncio.Lock())
        async with lock:
            if not directory.is_dir():
                await self._install(f"{package}@{version}", directory, progress)
        return directory

    async def _install(self, spec: str, directory: Path, progress: Progress) -> None:
        if shutil.which(self.npm) is None:
            raise InstallFailed(f"installing {spec} needs npm, which is not on this node's PATH")
        self.cache_dir.mkdir(parents=True, exist_ok=True, mode=0o755)
        staging = self.cache_dir / f".{directory.name}.partial"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o755)
        progress(f"installing {spec} with npm")
        argv = [
            self.npm,
            "install",
            "--prefix",
            str(staging),
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--no-update-notifier",
            "--loglevel=http",
            "--prefer-offline",
            spec,
        ]
        if "npm_config_cache" not in self.network.values:
            argv[-1:-1] = ["--cache", str(self.cache_dir / ".npm")]
        tail: deque[str] = deque(maxlen=TAIL_LINES)

        async def read(output: asyncio.StreamReader) -> None:
            async for raw in output:
                line = raw.decode(errors="replace").rstrip()[:MAX_LINE_CHARS]
                if line:
                    tail.append(line)
                    progress(line)

        try:
            code = await run_tool(
                argv,
                # npm reaches its registry as the node does: proxies, extra CAs, npm_config_*.
                env=self.network.tool_env(),
                read=read,
                timeout_seconds=INSTALL_TIMEOUT_SECONDS,
                merge_output=True,
            )
        except TimeoutError:
            shutil.rmtree(staging, ignore_errors=True)
            raise InstallFailed(
                f"npm did not install {spec} within {INSTALL_TIMEOUT_SECONDS / 60:g} minutes"
            ) from None
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        if code != 0:
            shutil.rmtree(staging, ignore_errors=True)
            errors = [line for line in tail if "ERR" in line] or list(tail)
            raise InstallFailed(f"npm could not install {spec}: " + " | ".join(errors[-5:]))
        _open_to_everyone(staging)
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(directory)
        staging.rename(directory)
        progress(f"installed {spec}")


def _open_to_everyone(root: Path) -> None:
    """Let every user read (and run what the owner may run) under `root`: the node made all of
    it just now, and no workspace can reach it yet, so paths are safe to follow here."""
    for directory, _, files in os.walk(root):
        os.chmod(directory, os.stat(directory).st_mode | 0o555)  # noqa: S103  (the point)
        for name in files:
            path = os.path.join(directory, name)
            mode = os.lstat(path).st_mode
            if stat.S_ISREG(mode):
                os.chmod(path, mode | 0o444 | (0o111 if mode & stat.S_IXUSR else 0))
