"""Schemas for a chat's pull requests."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from corral.control.schemas.common import PublicModel, StrictInput

__all__ = ["PullRequestCreate", "PullRequestPublic"]


class PullRequestCreate(StrictInput):
    title: str | None = Field(
        None, min_length=1, max_length=256, description="Default: the chat's title."
    )
    draft: bool = False


class PullRequestPublic(PublicModel):
    id: str
    session_id: str | None
    project_id: str | None
    repo: str = Field(description="owner/name on GitHub.")
    number: int
    url: str
    branch: str
    base: str
    title: str
    state: str = Field(description="open, closed or merged.")
    checks: str | None = Field(description="passed, failed, or null: nothing heard yet.")
    failed_check: str | None
    review_requested: str | None
    commit: str | None
    created_at: datetime
    updated_at: datetime
