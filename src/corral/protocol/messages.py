"""The typed bodies of node-link requests and events; `METHODS` pairs each method with them.

Requests from the control plane to a node (the node answers each one):

    workspace.create   WorkspaceSpec        -> WorkspaceStatus   (answers at once; progress and
                                                                   the outcome follow as events)
    workspace.start    WorkspaceRef         -> WorkspaceStatus
    workspace.stop     WorkspaceRef         -> WorkspaceStatus
    workspace.delete   WorkspaceRef         -> WorkspaceStatus
    workspace.rebuild  WorkspaceRebuild     -> WorkspaceStatus   (answers `rebuilding` at once;
                                                                   progress and outcome follow)
    workspace.list     Empty                -> WorkspaceList
    workspace.publish  WorkspacePublish     -> WorkspacePublished (commit what is left, push a
                                                                   branch: a chat's pull request)
    terminal.create    TerminalCreate       -> TerminalInfo
    terminal.list      TerminalQuery        -> TerminalList
    terminal.delete    TerminalRef          -> Empty
    terminal.attach    TerminalAttach       -> TerminalAttached  (bytes follow on the stream)
    terminal.resize    TerminalResize       -> Empty

Terminal requests name the workspace too: the node refuses a terminal of another workspace,
so a control plane bug cannot cross from one user's workspace into another's.

A workspace names its runtime (`WorkspaceSpec.runtime`); a node reports the runtimes it has in
each heartbeat (`RuntimeInfo`), with their default limits and what their isolation provides.

A node asks the control plane for a git credential when it clones a workspace's private
repository (`git.credential`, below; read only: a push's comes with `workspace.publish`); it
never keeps either: the token lives in the environment of
the one git command that uses it (see `corral.gitenv.credential_helper`).

Events from a node: `heartbeat` (NodeHeartbeat), `workspace.state` (WorkspaceStatus) and
`workspace.progress` (WorkspaceProgress).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, StringConstraints

from corral.gitenv import credential_helper
from corral.protocol.base import (
    MAX_ENV_VALUE_LENGTH,
    MAX_ENV_VARS,
    Body,
    Empty,
    EnvName,
    EnvValue,
    Id,
)
from corral.protocol.sessions import (
    PermissionAnswer,
    SessionAck,
    SessionEvents,
    SessionEventsAck,
    SessionList,
    SessionPrompt,
    SessionRef,
    SessionSetMode,
    SessionSetModel,
    SessionStart,
)
from corral.states import WorkspaceState

__all__ = [
    "EVENTS",
    "MAX_ENV_VALUE_LENGTH",
    "MAX_ENV_VARS",
    "MAX_WINDOW",
    "METHODS",
    "Body",
    "Empty",
    "EnvName",
    "EnvValue",
    "GitCredential",
    "GitCredentialRequest",
    "GitIdentity",
    "Id",
    "NodeHeartbeat",
    "NodeIsolation",
    "NodeNetwork",
    "RuntimeInfo",
    "RuntimeName",
    "TerminalAttach",
    "TerminalAttached",
    "TerminalCreate",
    "TerminalInfo",
    "TerminalList",
    "TerminalQuery",
    "TerminalRef",
    "TerminalResize",
    "WorkspaceLimits",
    "WorkspaceList",
    "WorkspaceProgress",
    "WorkspacePublish",
    "WorkspacePublished",
    "WorkspaceRebuild",
    "WorkspaceRef",
    "WorkspaceSpec",
    "WorkspaceStatus",
]


MAX_WINDOW = 1000
"""The most columns or rows a terminal may have."""


RuntimeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
"""A workspace runtime's registered name: `host`, `devcontainer`."""

MIN_MEMORY_BYTES = 64 * 1024 * 1024
"""The least memory a workspace may be limited to: less and a shell does not start."""


class WorkspaceLimits(Body):
    """What a workspace may use; None: the node's default for its runtime. A runtime that cannot
    enforce limits says so in its `RuntimeInfo` (`limits` is False)."""

    cpus: float | None = Field(None, gt=0, le=1024, description="CPUs, e.g. 1.5.")
    memory_bytes: int | None = Field(None, ge=MIN_MEMORY_BYTES, le=2**50)
    pids: int | None = Field(None, ge=32, le=4_194_304, description="Processes and threads.")


GitText = Annotated[
    str, StringConstraints(min_length=1, max_length=320, pattern=r"^[^\x00-\x1f<>\x7f]+$")
]
"""A name or email address git writes into a commit: one line, no angle brackets."""


class GitIdentity(Body):
    """Whom commits made in a workspace are by (`user.name`, `user.email` of its checkout)."""

    name: GitText
    email: GitText


class WorkspaceSpec(Body):
    """What a runtime needs to make a workspace: the project's repository, branch and env."""

    id: Id
    name: str = Field(max_length=64)
    repo: str = Field(max_length=2048)
    branch: str = Field(max_length=255)
    runtime: RuntimeName = "host"
    limits: WorkspaceLimits = Field(default_factory=WorkspaceLimits)
    identity: GitIdentity | None = None
    authenticated: bool = Field(
        False, description="Whether to ask the control plane for a credential to clone with."
    )


class GitCredentialRequest(Body):
    """A node asking for the credential to clone a workspace's repository. Only to read: a
    push's credential comes with the push the control plane asks for (`WorkspacePublish`)."""

    workspace_id: Id
    purpose: Literal["fetch"] = "fetch"


class GitCredential(Body):
    """Basic-auth credentials for `protocol://host` (a token as the password); or an SSH
    private key with the host key lines the project pinned for its server (`corral.gitssh`);
    or none: the repository needs none. Never logged, never kept by the node."""

    protocol: Literal["http", "https"] | None = None
    host: str | None = Field(None, max_length=255)
    username: str | None = Field(None, max_length=255)
    password: str | None = Field(None, max_length=4096, repr=False)
    ssh_key: str | None = Field(None, max_length=16384, repr=False)
    known_hosts: str | None = Field(None, max_length=16384)

    def token_options(self) -> tuple[tuple[str, ...], dict[str, str]]:
        """git's options and environment for a token (`corral.gitenv.credential_helper`), the
        same wherever git runs (a node's clone, a workspace's push, the control plane's
        `ls-remote`); nothing when this holds no token."""
        if not (self.password and self.protocol and self.host):
            return (), {}
        return credential_helper(
            protocol=self.protocol,
            host=self.host,
            username=self.username or "x-access-token",
            password=self.password,
        )


class WorkspacePublish(Body):
    """Commit what a workspace's checkout has uncommitted (as `identity`, with `message`) and
    push its HEAD to `remote`'s branch `branch` with `credential`, made for this one push."""

    workspace_id: Id
    branch: str = Field(max_length=255)
    remote: str = Field(max_length=2048)
    message: str = Field(min_length=1, max_length=20_000)
    identity: GitIdentity
    credential: GitCredential = Field(default_factory=GitCredential)
    base: str = Field(
        max_length=255, description="The branch the changed files are listed against."
    )


class WorkspacePublished(Body):
    commit: str = Field(max_length=64)
    committed: bool = Field(description="Whether a commit of uncommitted work was made.")
    files: list[Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=list, max_length=1000, description="Files changed against the base."
    )


class WorkspaceRef(Body):
    id: Id


class WorkspaceRebuild(Body):
    """Recreate a workspace's container from its (changed) devcontainer.json, keeping the
    checkout; `default_image` ignores the repository's configuration (after a failed build)."""

    id: Id
    default_image: bool = False
    limits: WorkspaceLimits = Field(default_factory=WorkspaceLimits)


class WorkspaceStatus(Body):
    id: Id
    state: WorkspaceState
    reason: str | None = Field(None, max_length=4000)


class WorkspaceList(Body):
    workspaces: list[WorkspaceStatus]


class WorkspaceProgress(Body):
    """One line of a workspace's provisioning log (e.g. git's clone progress)."""

    id: Id
    line: str = Field(max_length=4000)


class NodeIsolation(Body):
    """How a node keeps workspaces from the machine and from each other (see docs/security.md);
    `problems` says why a piece is missing, in the node's words."""

    sandbox: Literal["bwrap", "container", "none"] = "none"
    """Whether workspace processes run in a bubblewrap sandbox built from an allow-list, or in
    a container of the workspace's own."""
    user: Literal["workspace_uid", "user_namespace", "node_user", "container_user"] = "node_user"
    """Whom they run as: a uid of each workspace's own (a root node), the node's user inside
    a user namespace (a non-root node), the node's own user (no sandbox), or the user the
    workspace's container configuration names."""
    network: Literal["isolated", "bridge", "host"] = "host"
    """A network of their own that cannot reach the node (user-mode networking, or a bridge
    behind the node's firewall), a bridge of their own that can, or the machine's network."""
    file_access: Literal["openat2"] = "openat2"
    """How the node opens workspace files for agents: beneath the workspace, race-free."""
    problems: list[Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=list, max_length=10
    )


class NodeNetwork(Body):
    """How a node reaches the network: the names of the network variables it passes on to npm,
    git and workspaces (never their values), and the ones it left out, and why."""

    variables: list[EnvName] = Field(default_factory=list, max_length=200)
    problems: list[Annotated[str, StringConstraints(max_length=500)]] = Field(
        default_factory=list, max_length=20
    )


class RuntimeInfo(Body):
    """One of a node's runtimes, as its heartbeat reports it. `available` is False (with the
    reason in `problem`) when the node has it configured but it cannot work here (no Docker)."""

    name: RuntimeName
    available: bool = True
    problem: str | None = Field(None, max_length=500)
    isolation: NodeIsolation = Field(default_factory=NodeIsolation)
    limits: bool = Field(False, description="Whether it enforces `WorkspaceLimits`.")
    default_limits: WorkspaceLimits = Field(default_factory=WorkspaceLimits)


class NodeHeartbeat(Body):
    cpus: int = Field(ge=0)
    memory_total_bytes: int = Field(ge=0)
    memory_used_bytes: int = Field(ge=0)
    disk_total_bytes: int = Field(ge=0)
    disk_used_bytes: int = Field(ge=0)
    load1: float = Field(ge=0)
    workspaces: int = Field(ge=0)
    terminals: int = Field(ge=0)
    node_version: str = Field(max_length=64)
    sessions: int = Field(0, ge=0)
    agents: list[Annotated[str, StringConstraints(max_length=300)]] = Field(
        default_factory=list, max_length=200, description="Installed agents, package@version."
    )
    isolation: NodeIsolation = Field(default_factory=NodeIsolation)
    """The default runtime's isolation (the first of `runtimes`)."""
    network: NodeNetwork = Field(default_factory=NodeNetwork)
    runtimes: list[RuntimeInfo] = Field(default_factory=list, max_length=16)
    allocatable_cpus: float | None = Field(
        None, ge=0, description="CPUs the node offers its workspaces (None: all of `cpus`)."
    )
    allocatable_memory_bytes: int | None = Field(
        None, ge=0, description="Memory it offers them (None: all of `memory_total_bytes`)."
    )


class TerminalCreate(Body):
    workspace_id: Id
    env: dict[EnvName, EnvValue] = Field(
        default_factory=dict,
        max_length=MAX_ENV_VARS,
        description="The project's variables: sent with each request, never kept on the node.",
    )
    cols: int = Field(80, ge=1, le=MAX_WINDOW)
    rows: int = Field(24, ge=1, le=MAX_WINDOW)


class TerminalRef(Body):
    workspace_id: Id
    terminal_id: Id


class TerminalQuery(Body):
    workspace_id: Id | None = None


class TerminalInfo(Body):
    id: Id
    workspace_id: Id
    cols: int
    rows: int
    created_at: datetime
    last_attached_at: datetime | None
    exited: bool
    exit_status: int | None = None
    viewers: int = Field(ge=0)


class TerminalList(Body):
    terminals: list[TerminalInfo]


class TerminalAttach(Body):
    """Start sending a terminal's output on `stream`, from `offset` (an absolute byte position
    in everything the terminal has printed) or, when None, from the oldest byte still kept."""

    workspace_id: Id
    terminal_id: Id
    stream: int = Field(ge=1, lt=2**32)
    window_bytes: int = Field(gt=0, le=16 * 1024 * 1024)
    offset: int | None = Field(None, ge=0)


class TerminalAttached(Body):
    terminal: TerminalInfo
    offset: int = Field(ge=0, description="Where the bytes that follow start.")


class TerminalResize(Body):
    workspace_id: Id
    terminal_id: Id
    cols: int = Field(ge=1, le=MAX_WINDOW)
    rows: int = Field(ge=1, le=MAX_WINDOW)


METHODS: dict[str, tuple[type[Body], type[Body]]] = {
    "workspace.create": (WorkspaceSpec, WorkspaceStatus),
    "workspace.start": (WorkspaceRef, WorkspaceStatus),
    "workspace.stop": (WorkspaceRef, WorkspaceStatus),
    "workspace.delete": (WorkspaceRef, WorkspaceStatus),
    "workspace.rebuild": (WorkspaceRebuild, WorkspaceStatus),
    "workspace.list": (Empty, WorkspaceList),
    "workspace.publish": (WorkspacePublish, WorkspacePublished),
    "terminal.create": (TerminalCreate, TerminalInfo),
    "terminal.list": (TerminalQuery, TerminalList),
    "terminal.delete": (TerminalRef, Empty),
    "terminal.attach": (TerminalAttach, TerminalAttached),
    "terminal.resize": (TerminalResize, Empty),
    "session.start": (SessionStart, SessionAck),
    "session.prompt": (SessionPrompt, SessionAck),
    "session.cancel": (SessionRef, SessionAck),
    "session.stop": (SessionRef, SessionAck),
    "session.set_mode": (SessionSetMode, SessionAck),
    "session.set_model": (SessionSetModel, SessionAck),
    "session.permission": (PermissionAnswer, SessionAck),
    "session.list": (Empty, SessionList),
    # From a node to the control plane.
    "session.events": (SessionEvents, SessionEventsAck),
    "git.credential": (GitCredentialRequest, GitCredential),
}

EVENTS: dict[str, type[Body]] = {
    "heartbeat": NodeHeartbeat,
    "workspace.state": WorkspaceStatus,
    "workspace.progress": WorkspaceProgress,
}
