"""Workspaces: a checkout of a project on a node, made and run by one of the node's runtimes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from corral.control.db.base import Base, StrEnumType, Timestamps, utcnow
from corral.states import WorkspaceState

__all__ = ["Workspace"]


class Workspace(Timestamps, Base):
    __tablename__ = "workspaces"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), index=True, nullable=True
    )
    node_id: Mapped[str | None] = mapped_column(
        ForeignKey("nodes.id", ondelete="SET NULL"), index=True, nullable=True
    )
    name: Mapped[str] = mapped_column(String(64))
    branch: Mapped[str] = mapped_column(String(255))
    runtime: Mapped[str] = mapped_column(String(32))
    """The runtime it runs in; `auto` while pending (placement picks devcontainer or host)."""
    limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """Its `WorkspaceLimits` as requested (from the project); empty values: the node's defaults."""
    idle_timeout_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Overrides the project's idle timeout; 0: never stopped for being idle."""
    last_active_at: Mapped[datetime | None] = mapped_column(nullable=True)
    """When someone last typed in a terminal, watched it, or an agent last worked in it."""
    state: Mapped[WorkspaceState] = mapped_column(StrEnumType(WorkspaceState))
    state_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the runtime returned about the workspace it made; only the runtime reads it.
    runtime_handle: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
