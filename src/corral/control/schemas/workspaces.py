"""Schemas for workspaces and their terminals."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from corral.control.schemas.common import PublicModel, StrictInput
from corral.control.schemas.fields import Branch, NewName, Ref
from corral.states import WorkspaceState

__all__ = [
    "TerminalCreate",
    "TerminalPublic",
    "TerminalTicket",
    "WorkspaceCreate",
    "WorkspaceLog",
    "WorkspacePublic",
]


class WorkspaceCreate(StrictInput):
    project: Ref = Field(description="Project name or id.")
    name: NewName | None = None
    branch: Branch | None = Field(
        None, description="Branch to check out; the project's default if omitted."
    )
    node: Ref | None = Field(
        None, description="Node name or id; the least busy ready node if omitted."
    )


class WorkspacePublic(PublicModel):
    id: str
    name: str
    project_id: str | None
    node_id: str | None
    branch: str
    runtime: str
    state: WorkspaceState
    state_reason: str | None
    state_changed_at: datetime
    created_at: datetime


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
