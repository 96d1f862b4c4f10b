"""Schemas for workspaces and their terminals."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from corral.control.schemas.common import PublicModel, StrictInput
from corral.control.schemas.fields import RUNTIME_CHOICE, Branch, NewName, Ref
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
