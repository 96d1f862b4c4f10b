"""Schemas for projects."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from corral.control.schemas.common import PublicModel, StrictInput
from corral.control.schemas.fields import ENV_PATCH, Branch, NewName

__all__ = ["ProjectCreate", "ProjectPublic", "ProjectUpdate"]


class ProjectCreate(StrictInput):
    name: NewName
    repo: str = Field(
        min_length=1,
        max_length=2048,
        description="A git URL, `git@host:path`, or an absolute local path. Only repositories "
        "that need no login can be cloned today (no token or key is used yet).",
    )
    default_branch: Branch | None = Field(
        None, description="Branch new workspaces check out; the repository's default when omitted."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment variables set in every workspace."
    )


class ProjectUpdate(StrictInput):
    name: NewName | None = None
    default_branch: Branch | None = None
    env: dict[str, str | None] | None = Field(None, description=ENV_PATCH)


class ProjectPublic(PublicModel):
    id: str
    name: str
    repo: str
    default_branch: str
    env: dict[str, str]
    created_at: datetime
    updated_at: datetime
