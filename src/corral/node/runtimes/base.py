"""The runtime interface: how a node makes, runs and removes workspaces.

Modelled on JupyterHub's spawners: the node (the caller) owns deadlines, retries, persistence
and state transitions; a runtime only does the work and reports. It takes a pydantic spec and
returns a pydantic handle, which the node stores and passes back on every later call, so a
runtime keeps no state of its own across restarts.

An implementation defines how to make a workspace and how to run a command inside it
(`command`); running a plain process, a PTY or a one-off command is built on that here.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from corral.errors import CorralError, InvalidInput
from corral.netenv import NetworkEnvironment
from corral.node.workspacefiles import WorkspaceFiles
from corral.processes import kill_process_group
from corral.protocol.messages import NodeIsolation, WorkspaceSpec

__all__ = [
    "ExecResult",
    "ProcessSpec",
    "Progress",
    "Runtime",
    "RuntimeError_",
    "RuntimeStatus",
    "WorkspaceHandle",
    "resolve_in_workspace",
]

Progress = Callable[[str], None]
"""Called with each line of progress (a git clone's output) while a workspace is made."""


class RuntimeError_(CorralError):
    """A runtime could not do what was asked; `message` says why in the user's terms."""

    reason = "runtime_failed"


class RuntimeStatus(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    MISSING = "missing"


class WorkspaceHandle(BaseModel):
    """What a runtime returns about a workspace it made. The node persists it as it is."""

    model_config = ConfigDict(extra="forbid")

    workspace_id: str
    runtime: str
    root: Path
    """The workspace's own area: the only place its processes may write."""
    repo: Path
    """The git checkout, and the working directory of new processes."""
    home: Path
    """HOME for the workspace's processes, inside `root`."""


class ProcessSpec(BaseModel):
    """A process ready to start: the full argv (sandbox wrapper included), env and cwd."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path


class ExecResult(BaseModel):
    exit_code: int
    stdout: bytes
    stderr: bytes


def resolve_in_workspace(handle: WorkspaceHandle, path: str | Path) -> Path:
    """The absolute path of `path` (relative to the checkout) if it stays inside the workspace.

    Symlinks are resolved first, so a link pointing outside is refused like `../` is.
    """
    candidate = Path(path)
    if not candidate.is_absolute():
        candidate = handle.repo / candidate
    resolved = candidate.resolve()
    root = handle.root.resolve()
    if resolved != root and root not in resolved.parents:
        raise InvalidInput(f"{path} is outside the workspace", reason="path_outside_workspace")
    return resolved


class Runtime(abc.ABC):
    """Makes workspaces on this node and runs commands in them.

    `name` is the registered, lower-case kind (`host`, `devcontainer`), and `settings_model` the
    pydantic model of its settings. `workspaces_dir` is the node's directory for workspace areas
    (a runtime puts each workspace under it) and `data_dir` the node's data directory, which a
    runtime must keep out of its workspaces' sight. `network` holds the node's network
    variables (proxies, trust stores): what git and the workspace's processes must get to reach
    the network as the node does (see `corral.netenv`).
    """

    name: ClassVar[str]
    settings_model: ClassVar[type[BaseModel]]
    sandboxed: bool = False
    """Whether processes run confined by Corral's sandbox. Agents with a sandbox of their own
    turn it off then (see `AgentLaunch.sandboxed_args`): sandboxes cannot nest."""
    isolation: NodeIsolation = NodeIsolation()
    """What that sandbox provides here, for the node's heartbeat (`corral node show`)."""

    def __init__(
        self,
        workspaces_dir: Path,
        *,
        data_dir: Path,
        settings: BaseModel | None = None,
        network: NetworkEnvironment | None = None,
    ) -> None:
        self.workspaces_dir = workspaces_dir
        self.data_dir = data_dir
        self.network = network or NetworkEnvironment()

    @abc.abstractmethod
    async def create(self, spec: WorkspaceSpec, progress: Progress) -> WorkspaceHandle:
        """Make the workspace: its area, the checkout of `spec.repo` at `spec.branch`, a HOME.

        Idempotent: called again with the same `spec.id` after a crash, it finishes or redoes
        the work and never makes a second workspace. Raises `RuntimeError_` with the tool's own
        message (git's, for a failed clone), after removing what it half made.
        """

    @abc.abstractmethod
    async def start(self, handle: WorkspaceHandle) -> None:
        """Make a stopped workspace ready to run processes again. Idempotent."""

    @abc.abstractmethod
    async def stop(self, handle: WorkspaceHandle) -> None:
        """Stop the workspace's processes; its files stay. Idempotent."""

    @abc.abstractmethod
    async def delete(self, handle: WorkspaceHandle) -> None:
        """Stop everything and remove the workspace's area. Idempotent: a missing one is fine."""

    @abc.abstractmethod
    async def status(self, handle: WorkspaceHandle) -> RuntimeStatus:
        """What the workspace is now, from what is on disk (so it holds after a node restart)."""

    @abc.abstractmethod
    def command(
        self,
        handle: WorkspaceHandle,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        readable: Sequence[Path] = (),
    ) -> ProcessSpec:
        """How to start `argv` inside the workspace (wrapped in the sandbox, if there is one),
        with a minimal env, `env` on top, and `cwd` (default: the checkout). `readable` are
        node directories the process may read though the sandbox hides the node's data
        directory (the shared agent installs)."""

    @abc.abstractmethod
    def files(self, handle: WorkspaceHandle, *, max_read_bytes: int) -> WorkspaceFiles:
        """The workspace's files as its agent reads and writes them through the node (ACP's
        `fs/*`): the checkout and HOME, opened so that no path or link leads out of them, and
        what is made there owned by the workspace's user (see `corral.node.workspacefiles`)."""

    async def spawn_process(
        self,
        handle: WorkspaceHandle,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        readable: Sequence[Path] = (),
    ) -> asyncio.subprocess.Process:
        """Start a process with pipes on stdin, stdout and stderr, in its own process group."""
        spec = self.command(handle, argv, env=env, cwd=cwd, readable=readable)
        return await asyncio.create_subprocess_exec(
            *spec.argv,
            env=spec.env,
            cwd=spec.cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )

    async def exec(
        self,
        handle: WorkspaceHandle,
        argv: Sequence[str],
        *,
        timeout_seconds: float,
        env: Mapping[str, str] | None = None,
    ) -> ExecResult:
        """Run a command to its end and collect its output; kill it at the timeout."""
        process = await self.spawn_process(handle, argv, env=env)
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_seconds)
        except TimeoutError:
            await kill_process_group(process)
            raise RuntimeError_(
                f"{argv[0]} did not finish within {timeout_seconds:g} s", reason="exec_timeout"
            ) from None
        return ExecResult(exit_code=process.returncode or 0, stdout=stdout, stderr=stderr)
