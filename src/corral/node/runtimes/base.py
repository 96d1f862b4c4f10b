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
import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, model_validator

from corral.errors import CorralError
from corral.netenv import NetworkEnvironment
from corral.node.priority import start_session
from corral.node.workspacefiles import WorkspaceFiles
from corral.processes import kill_marked, kill_process_group
from corral.protocol.messages import (
    GitCredential,
    NodeIsolation,
    RuntimeInfo,
    WorkspaceLimits,
    WorkspaceRebuild,
    WorkspaceSpec,
)

__all__ = [
    "AgentProgram",
    "CredentialSource",
    "ExecResult",
    "ProcessSpec",
    "Progress",
    "Runtime",
    "RuntimeError_",
    "RuntimeStatus",
    "WorkspaceHandle",
    "WorkspaceUnbuilt",
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
    UNBUILT = "unbuilt"
    """Its checkout is there, but what runs it could not be built (a failed image build)."""


class WorkspaceUnbuilt(RuntimeError_):
    """The workspace was made but cannot run: `handle` is kept so that a rebuild (with other
    settings, such as the node's default image) can finish it without cloning again."""

    reason = "workspace_unbuilt"

    def __init__(self, message: str, handle: WorkspaceHandle) -> None:
        super().__init__(message)
        self.handle = handle


class WorkspaceHandle(BaseModel):
    """What a runtime returns about a workspace it made. The node persists it as it is.

    Paths are as the workspace's own processes see them (inside a container, the container's):
    they are what an agent is told (ACP's `cwd`) and what it names in `fs/*` requests. Where
    the workspace lives on the node is the runtime's business, kept in `state` if it must be.
    """

    model_config = ConfigDict(extra="forbid")

    workspace_id: str
    runtime: str
    repo: Path
    """The git checkout, and the working directory of new processes."""
    home: Path
    """Where the workspace keeps what is not the checkout: agents' HOMEs and logins."""
    state: dict[str, JsonValue] = Field(default_factory=dict)
    """The runtime's own (a container's id); nobody else reads it."""

    @model_validator(mode="before")
    @classmethod
    def _drop_host_root(cls, data: Any) -> Any:
        """Handles saved before runtimes kept their own state named the host directory."""
        if isinstance(data, dict) and "root" in data:
            data = {key: value for key, value in data.items() if key != "root"}
        return data


class ProcessSpec(BaseModel):
    """A process ready to start: the full argv (sandbox wrapper included), env and cwd.

    `marker`, when set, is also in the environment of the process inside the workspace (as
    `PROCESS_MARKER_VARIABLE`): its group on the node is only a client (`docker exec`), so
    ending it means ending what carries the marker too (`corral.processes.kill_marked`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: Path
    marker: str | None = None
    nice: int = Field(0, ge=0, le=19)
    """How much lower than the node's own processes it runs (see `corral.node.priority`)."""


class AgentProgram(BaseModel):
    """An installed agent as a runtime is asked to start it: its program in the node's agent
    cache (`install_dir`, None for a command on the PATH) and its arguments."""

    model_config = ConfigDict(frozen=True)

    argv: tuple[str, ...]
    install_dir: Path | None = None


class ExecResult(BaseModel):
    exit_code: int
    stdout: bytes
    stderr: bytes


CredentialSource = Callable[[str], Awaitable[GitCredential]]
"""Asks the control plane for a workspace's git credential to clone with (`git.credential`);
set on each runtime by the node (`NodeWorkspaces`), so a private repository's clone can
authenticate."""


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
    enforces_limits: bool = False
    """Whether `WorkspaceSpec.limits` are enforced (the control plane places by them)."""
    default_limits: WorkspaceLimits = WorkspaceLimits()
    """The limits of a workspace that asks for none."""
    credentials: CredentialSource | None = None
    program_nice: int = 0
    """Given to the programs of its workspaces (`ProcessSpec.nice`) where the runtime sets it."""

    def __init__(
        self,
        workspaces_dir: Path,
        *,
        data_dir: Path,
        settings: BaseModel | None = None,
        network: NetworkEnvironment | None = None,
        agents_dir: Path | None = None,
    ) -> None:
        self.workspaces_dir = workspaces_dir
        self.data_dir = data_dir
        self.agents_dir = agents_dir or data_dir / "agents"
        self.network = network or NetworkEnvironment()
        self._markers: dict[int, str] = {}

    def info(self) -> RuntimeInfo:
        """What the node's heartbeat says of this runtime."""
        return RuntimeInfo(
            name=self.name,
            isolation=self.isolation,
            limits=self.enforces_limits,
            default_limits=self.default_limits,
        )

    @abc.abstractmethod
    async def create(self, spec: WorkspaceSpec, progress: Progress) -> WorkspaceHandle:
        """Make the workspace: its area, the checkout of `spec.repo` at `spec.branch`, a HOME.

        Idempotent: called again with the same `spec.id` after a crash, it finishes or redoes
        the work and never makes a second workspace. Raises `RuntimeError_` with the tool's own
        message (git's, for a failed clone), after removing what it half made.
        """

    async def close(self) -> None:  # noqa: B027  (most runtimes hold nothing)
        """Let go of what the runtime holds (connections, background work) as the node stops;
        its workspaces run on."""

    async def rebuild(
        self, handle: WorkspaceHandle, request: WorkspaceRebuild, progress: Progress
    ) -> WorkspaceHandle:
        """Make the workspace anew from its configuration, keeping its checkout and HOME; the
        caller stops its processes first. Only runtimes with something to rebuild do."""
        raise RuntimeError_(
            f"the {self.name} runtime has nothing to rebuild: a workspace is its checkout",
            reason="rebuild_unsupported",
        )

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
        tty: bool = False,
    ) -> ProcessSpec:
        """How to start `argv` inside the workspace (wrapped in the sandbox, if there is one),
        with a minimal env, `env` on top, and `cwd` (default: the checkout). `readable` are
        node directories the process may read though the sandbox hides the node's data
        directory (the shared agent installs). `tty`: it will run on a terminal."""

    def shell(self, handle: WorkspaceHandle) -> tuple[str, ...]:
        """The login shell a terminal of the workspace runs."""
        return ("/bin/bash", "-l") if Path("/bin/bash").exists() else ("/bin/sh", "-l")

    @abc.abstractmethod
    def files(self, handle: WorkspaceHandle, *, max_read_bytes: int) -> WorkspaceFiles:
        """The workspace's files as its agent reads and writes them through the node (ACP's
        `fs/*`): the checkout and HOME, opened so that no path or link leads out of them, and
        what is made there owned by the workspace's user (see `corral.node.workspacefiles`)."""

    async def spawn_agent(
        self,
        handle: WorkspaceHandle,
        program: AgentProgram,
        *,
        env: Mapping[str, str],
        progress: Progress,
    ) -> asyncio.subprocess.Process:
        """Start an installed agent in the workspace, as `spawn_process` does. A runtime whose
        workspaces cannot run the node's installs as they are (no Node.js in a container)
        makes them runnable here, reporting long work to `progress`."""
        readable = [program.install_dir] if program.install_dir else []
        return await self.spawn_process(handle, program.argv, env=env, readable=readable)

    async def kill(self, process: asyncio.subprocess.Process) -> None:
        """End a process this runtime started, with everything it started, and reap it."""
        await kill_process_group(process)
        marker = self._markers.pop(process.pid, None)
        if marker is not None:
            await asyncio.to_thread(kill_marked, marker)

    async def spawn_process(
        self,
        handle: WorkspaceHandle,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        readable: Sequence[Path] = (),
    ) -> asyncio.subprocess.Process:
        """Start a process with pipes on stdin, stdout and stderr, in a session of its own."""
        spec = self.command(handle, argv, env=env, cwd=cwd, readable=readable)
        process = await asyncio.create_subprocess_exec(
            *spec.argv,
            env=spec.env,
            cwd=spec.cwd,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            # Not start_new_session: uvloop would make the session after this runs, and the
            # priority is the new session's, never the node's own.
            preexec_fn=functools.partial(start_session, spec.nice),
        )
        if spec.marker is not None:
            self._markers[process.pid] = spec.marker
        return process

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
            raise RuntimeError_(
                f"{argv[0]} did not finish within {timeout_seconds:g} s", reason="exec_timeout"
            ) from None
        finally:
            await self.kill(process)
        return ExecResult(exit_code=process.returncode or 0, stdout=stdout, stderr=stderr)
