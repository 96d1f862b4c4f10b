"""The `host` runtime: a workspace is a git clone in a directory on the node, and its processes
run on the node itself, confined by a sandbox where it works (see `corral.node.sandbox`).

This is the embedded default (`corral up`) and needs nothing but git, so it is the one every node
can offer. The checkout is made by `corral.node.runtimes.gitclone`.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal

from pydantic import BaseModel, Field, field_validator

from corral.netenv import NetworkEnvironment
from corral.node.openat2 import openat2_problem
from corral.node.runtimes._area import Area, AreaRuntime, give_tree
from corral.node.runtimes.base import Progress, RuntimeError_
from corral.node.runtimes.gitclone import clone_checkout
from corral.node.sandbox import (
    DEFAULT_HIDDEN_PATHS,
    DEFAULT_SYSTEM_PATHS,
    WORKSPACE_USER,
    Sandbox,
)
from corral.node.sandbox.probe import sandbox_problem
from corral.node.workspacefiles import FileOwner
from corral.protocol.messages import NodeIsolation, WorkspaceSpec

__all__ = ["HostRuntime", "HostRuntimeSettings"]

log = logging.getLogger("corral.runtimes")


class HostRuntimeSettings(BaseModel):
    sandbox: Literal["auto", "bwrap", "none"] = Field(
        "auto",
        description=(
            "How workspace processes are confined: `bwrap` (the full sandbox; the node refuses "
            "to start if any piece of it cannot work here), `none` (they run as the node's user, "
            "seeing all it sees), or `auto` (the most of the sandbox that works here, saying "
            "what is missing in the log and in `corral node show`)."
        ),
    )
    network: Literal["isolated", "host"] = Field(
        "isolated",
        description=(
            "`isolated`: each sandbox has a network of its own through slirp4netns, reaching "
            "the internet but no service on the node's 127.0.0.1; `host`: the node's network, "
            "loopback services included (for an LLM gateway on the node, at a cost)."
        ),
    )
    clone_timeout_seconds: float = Field(
        600.0, gt=0, description="How long the `git clone` that makes a workspace may take."
    )
    system_paths: list[str] = Field(
        default_factory=lambda: list(DEFAULT_SYSTEM_PATHS),
        description="System directories a sandbox shows read-only (the allow-list); "
        "setting it replaces the list.",
    )
    readable_paths: list[str] = Field(
        default_factory=list,
        description="More files or directories a sandbox shows read-only (a toolchain in /opt).",
    )
    hidden_paths: list[str] = Field(
        default_factory=lambda: list(DEFAULT_HIDDEN_PATHS),
        description=(
            "Absolute paths or glob patterns masked inside what a sandbox shows, on top of the "
            "node's data and workspaces directories (always masked): password hashes, sudo "
            "rules and SSH host keys by default. Setting it replaces the list."
        ),
    )
    also_hidden_paths: list[str] = Field(
        default_factory=list,
        description="Paths masked on top of `hidden_paths` (e.g. the control plane's data "
        "directory, which `corral up` masks in its local node's sandboxes).",
    )
    uid_range_start: int = Field(
        1_800_000_000,
        ge=1000,
        le=2**31 - 2**16,
        description="On a root node each workspace runs as a uid of its own from this range "
        "(no account is made for it).",
    )
    uid_range_size: int = Field(65536, ge=1, le=2**16, description="How many uids the range has.")
    nice: int = Field(
        10,
        ge=0,
        le=19,
        description="How much lower than the node's own processes workspace programs run (a "
        "nice value, also given to each one's session where the kernel schedules sessions as "
        "groups): a busy workspace leaves the node and a control plane beside it responsive. "
        "0: as the node.",
    )

    @field_validator("system_paths", "readable_paths", "hidden_paths", "also_hidden_paths")
    @classmethod
    def _absolute(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not path.startswith("/") or Path(path) == Path("/"):
                raise ValueError(f"a sandbox path must be absolute and not /: {path!r}")
        return paths


class HostRuntime(AreaRuntime):
    """Workspaces as directories under `workspaces_dir`, confined by `corral.node.sandbox`."""

    name: ClassVar[str] = "host"
    settings_model: ClassVar[type[BaseModel]] = HostRuntimeSettings

    def __init__(
        self,
        workspaces_dir: Path,
        *,
        data_dir: Path,
        settings: HostRuntimeSettings | None = None,
        network: NetworkEnvironment | None = None,
        agents_dir: Path | None = None,
    ) -> None:
        super().__init__(workspaces_dir, data_dir=data_dir, network=network, agents_dir=agents_dir)
        self.settings = settings or HostRuntimeSettings()
        self.program_nice = self.settings.nice
        problem = openat2_problem()
        if problem is not None:
            # Without it, serving an agent's file requests cannot be made safe.
            raise RuntimeError_(
                f"the host runtime cannot run here: {problem}", reason="openat2_unavailable"
            )
        self._as_root = os.geteuid() == 0
        self.isolation, self._sandbox = self._choose_sandbox()
        self.sandboxed = self._sandbox is not None
        if self.sandboxed and self._as_root:
            self._user, self._shell = WORKSPACE_USER, "/bin/bash"

    def _choose_sandbox(self) -> tuple[NodeIsolation, Sandbox | None]:
        """The strongest sandbox this machine allows within the settings: all of it for
        `bwrap` (or an error), as much as works for `auto`, none for `none`."""
        choice = self.settings.sandbox
        if choice == "none":
            return NodeIsolation(problems=["the sandbox is turned off (sandbox = none)"]), None
        uid = self.settings.uid_range_start if self._as_root else None
        network = self.settings.network == "isolated"
        problems = []
        problem = sandbox_problem(uid=uid, network=network)
        if problem is not None and network:
            if choice == "bwrap":
                raise _unavailable(f"its network isolation does not work: {problem}")
            problems.append(f"no network isolation: {problem}")
            network = False
            problem = sandbox_problem(uid=uid, network=False)
        if problem is not None:
            if choice == "bwrap":
                raise _unavailable(problem)
            log.warning("workspace processes on this node will run without a sandbox: %s", problem)
            return NodeIsolation(problems=[f"no sandbox: {problem}"]), None
        if network:
            for name in self.network.loopback_proxies():
                problems.append(
                    f"{name} names a proxy on the node's loopback, which workspaces with a "
                    'network of their own cannot reach (set network = "host" to share it)'
                )
        for line in problems:
            log.warning("this node's workspace sandbox is weaker than it could be: %s", line)
        isolation = NodeIsolation(
            sandbox="bwrap",
            user="workspace_uid" if self._as_root else "user_namespace",
            network="isolated" if network else "host",
            problems=problems,
        )
        hidden = [
            str(self.data_dir),
            str(self.workspaces_dir),
            *self.settings.hidden_paths,
            *self.settings.also_hidden_paths,
        ]
        sandbox = Sandbox(
            system_paths=self.settings.system_paths,
            readable_paths=self.settings.readable_paths,
            hidden_paths=hidden,
            network=network,
            user_name=WORKSPACE_USER if self._as_root else self._user,
            shell="/bin/bash" if self._as_root else self._shell,
            bwrap=shutil.which("bwrap") or "bwrap",
            slirp4netns=shutil.which("slirp4netns") or "slirp4netns",
        )
        return isolation, sandbox

    def _wrap(
        self, area: Area, argv: Sequence[str], cwd: Path, readable: Sequence[Path]
    ) -> tuple[str, ...]:
        if self._sandbox is None:
            return tuple(argv)
        trust_store = [Path(path) for path in self.network.readable_paths()]
        return self._sandbox.command(
            argv,
            writable=(area.repo, area.home),
            tmp=area.tmp,
            cwd=cwd,
            home=area.home,
            hostname=_hostname(area.root.name),
            readable=[*readable, *trust_store],
            owner=self._owner(area),
        )

    def _owner(self, area: Area) -> FileOwner | None:
        """A root node's workspace runs as a uid of its own: the owner of its HOME. One made
        before the sandbox had one (owned by root) is given one now."""
        if not (self._as_root and self.sandboxed):
            return None
        uid = area.home.lstat().st_uid
        if self._is_workspace_uid(uid):
            return FileOwner(uid, uid)
        owner = self._allocate_uid()
        give_tree(area.home, owner)
        for directory in (area.repo, area.tmp):
            give_tree(directory, owner)
        return owner

    def _is_workspace_uid(self, uid: int) -> bool:
        start = self.settings.uid_range_start
        return start <= uid < start + self.settings.uid_range_size

    def _allocate_uid(self) -> FileOwner:
        """The lowest uid of the range no workspace's HOME is owned by. Runs without awaiting,
        and the caller gives the HOME away before awaiting, so two creates cannot pick one."""
        taken = set()
        for home in self.workspaces_dir.glob("*/home"):
            with contextlib.suppress(OSError):
                taken.add(home.lstat().st_uid)
        start = self.settings.uid_range_start
        for uid in range(start, start + self.settings.uid_range_size):
            if uid not in taken:
                return FileOwner(uid, uid)
        raise RuntimeError_(
            f"all {self.settings.uid_range_size} workspace uids of this node are in use",
            reason="no_workspace_uid",
        )

    async def _populate(self, area: Area, spec: WorkspaceSpec, progress: Progress) -> None:
        await clone_checkout(
            spec,
            area,
            network=self.network,
            timeout_seconds=self.settings.clone_timeout_seconds,
            forbidden=(self.data_dir, self.workspaces_dir),
            progress=progress,
            credentials=self.credentials,
        )
        self._owner(area)  # hands the new checkout to the workspace's uid on a root node


def _unavailable(problem: str) -> RuntimeError_:
    return RuntimeError_(
        f"the host runtime's sandbox is set to bwrap, but {problem}",
        reason="sandbox_unavailable",
    )


def _hostname(workspace_id: str) -> str:
    return re.sub(r"[^a-z0-9-]", "-", workspace_id.lower())[:63].strip("-") or "workspace"
