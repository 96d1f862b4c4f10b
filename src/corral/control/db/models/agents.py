"""A user's own ACP agents and their agent settings (per user, and per project on top)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from corral.control.db.base import Base, Timestamps

__all__ = ["USER_SCOPE", "AgentSetting", "CustomAgent"]

USER_SCOPE = "*"


class CustomAgent(Timestamps, Base):
    """An ACP agent the user added (`corral agent add`): a catalog entry of their own."""

    __tablename__ = "custom_agents"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    command: Mapped[list[str]] = mapped_column(JSON)
    entry: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The rest of its catalog entry (title, package and version, credentials, endpoint
    settings, ...), as `AgentSpec` validated it; None for an agent added as a bare command."""


class AgentSetting(Timestamps, Base):
    """How a user runs an agent: everywhere (`project_id` None) or in one project.

    Unset fields fall through: project settings, then the user's, then the catalog's defaults;
    `env` is merged key by key in the same order.
    """

    __tablename__ = "agent_settings"
    __table_args__ = (UniqueConstraint("user_id", "agent", "scope"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    agent: Mapped[str] = mapped_column(String(64))
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    scope: Mapped[str] = mapped_column(String(40))
    """The project's id, or `USER_SCOPE`: unique with user and agent (NULLs never clash)."""
    credential_id: Mapped[str | None] = mapped_column(
        ForeignKey("credentials.id", ondelete="SET NULL"), nullable=True
    )
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    policy: Mapped[str | None] = mapped_column(String(32), nullable=True)
    endpoint: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    env: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    args: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
