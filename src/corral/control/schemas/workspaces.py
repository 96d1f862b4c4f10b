"""Schemas for workspaces and their terminals."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from corral.control.db.models import Workspace
from corral.control.schemas.common import PublicModel, StrictInput
from corral.control.schemas.fields import RUNTIME_CHOICE, Branch, IdleTimeoutMinutes, NewName, Ref
from corral.control.services.idle import Hold, IdleStatus
from corral.states import WorkspaceState

__all__ = [
    "TerminalCreate",
    "TerminalPublic",
    "TerminalTicket",
    "WorkspaceCreate",
    "WorkspaceLimitsPublic",
    "WorkspaceLog",
    "WorkspacePublic",
    "WorkspaceRebuildRequest",
    "WorkspaceUpdate",
]


class WorkspaceCreate(StrictInput):
    project: Ref = Field(description="Project name or id.")
    name: NewName | None = None
    branch: Branch | None = Field(
        None, description="Branch to check out; the project's default if omitted."
    )
    node: Ref | None = Field(
        None,
        description="Node name or id to place it on; if omitted, placement picks a ready node "
        "with room. Either way it waits in `pending` (with the reason) until one has room.",
    )
    runtime: str | None = RUNTIME_CHOICE


class WorkspaceLimitsPublic(PublicModel):
    """What a workspace may use; null: no limit set (a runtime that cannot enforce limits)."""

    cpus: float | None = None
    memory_bytes: int | None = None
    pids: int | None = None


class WorkspacePublic(PublicModel):
    id: str
    name: str
    project_id: str | None
    node_id: str | None = Field(
        description="The node it is on; while `pending`, the node it waits for, if one was named."
    )
    branch: str
    runtime: str = Field(description="`auto` until placed, then the runtime it runs in.")
    limits: WorkspaceLimitsPublic = Field(
        description="Its project's limits until placed, then with the node's defaults filled in."
    )
    state: WorkspaceState
    state_reason: str | None = Field(
        description="Why it is in its state: while `pending`, why no node has taken it yet."
    )
    state_changed_at: datetime
    created_at: datetime
    idle_timeout_minutes: float | None = Field(
        description="How long it may sit idle before it is stopped (its own setting, else its "
        "project's, else the control plane's default); null: it is never stopped for being idle."
    )
    idle_timeout_source: Literal["workspace", "project", "default"] = Field(
        description="Where `idle_timeout_minutes` comes from."
    )
    idle_stop_at: datetime | None = Field(
        description="When it stops if nothing happens until then; null when it is not running, "
        "never stops for being idle, or an agent works or waits for permission in it."
    )
    idle_hold: Hold | None = Field(
        description="What keeps it running however long it lasts: `agent_working` or "
        "`permission_waiting`."
    )
    last_active_at: datetime | None = Field(
        description="Its latest activity (typing, a viewer, an agent's work, its start), while "
        "it runs."
    )

    @classmethod
    def of(cls, row: Workspace, idle: IdleStatus) -> WorkspacePublic:
        """The row's fields, and its idle status (`corral.control.services.idle`)."""
        own = {name: getattr(row, name) for name in cls.model_fields if name not in _IDLE_FIELDS}
        return cls(
            **own,
            idle_timeout_minutes=idle.timeout.minutes,
            idle_timeout_source=idle.timeout.source,
            idle_stop_at=idle.stop_at,
            idle_hold=idle.hold,
            last_active_at=idle.last_active_at,
        )


_IDLE_FIELDS = frozenset(
    {"idle_timeout_minutes", "idle_timeout_source", "idle_stop_at", "idle_hold", "last_active_at"}
)


class WorkspaceUpdate(StrictInput):
    idle_timeout_minutes: IdleTimeoutMinutes | None = Field(
        None,
        description="Its own idle timeout in minutes (0: never stop it for being idle); null: "
        "its project's again. Left out: unchanged.",
    )


class WorkspaceRebuildRequest(StrictInput):
    default_image: bool = Field(
        False,
        description="Ignore the repository's devcontainer configuration and use the node's "
        "default image: for a workspace whose build failed.",
    )


class WorkspaceLog(PublicModel):
    lines: list[str]


class TerminalCreate(StrictInput):
    cols: int = Field(80, ge=1, le=1000)
    rows: int = Field(24, ge=1, le=1000)


class TerminalPublic(PublicModel):
    id: str
    workspace_id: str
    cols: int
    rows: int
    created_at: datetime
    last_attached_at: datetime | None
    exited: bool
    exit_status: int | None
    viewers: int


class TerminalTicket(PublicModel):
    ticket: str = Field(description="Single use, valid 60 s: pass as `?ticket=` on the WebSocket.")
    url: str = Field(description="The terminal's WebSocket path, ticket included.")
    expires_at: datetime
