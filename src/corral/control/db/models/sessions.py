"""Agent sessions (a chat with an ACP agent in a workspace) and their numbered events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from corral.control.db.base import Base, StrEnumType, Timestamps, utcnow
from corral.states import SessionState

__all__ = ["AgentSession", "PermissionRequest", "PermissionState", "SessionEvent"]


class AgentSession(Timestamps, Base):
    __tablename__ = "agent_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    # Kept when the workspace goes, so a project's chat history outlives its workspaces.
    workspace_id: Mapped[str | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="SET NULL"), index=True, nullable=True
    )
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), index=True, nullable=True
    )
    agent: Mapped[str] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    policy: Mapped[str] = mapped_column(String(32), default="ask")
    state: Mapped[SessionState] = mapped_column(StrEnumType(SessionState))
    state_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    acp_session_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model: Mapped[str | None] = mapped_column(String(200), nullable=True)
    mode: Mapped[str | None] = mapped_column(String(200), nullable=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    """The start of the agent's latest message, for lists and the dashboard."""
    context_usage: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The context window and cost from the agent's last `usage_update`: {used, size, cost}
    (see `corral.control.services.sessions.usage`)."""
    turn_usage: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The token counts of the last turn that reported them: {total_tokens, input_tokens, …}."""
    agent_info: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """What the agent said when it started: modes, models, config options, loadSession."""

    @property
    def name(self) -> str:
        return self.title or f"{self.agent} session"


class SessionEvent(Base):
    """One frame of a session, numbered from 1 without gaps within its session."""

    __tablename__ = "session_events"

    session_id: Mapped[str] = mapped_column(
        ForeignKey("agent_sessions.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PermissionState(StrEnum):
    PENDING = "pending"
    ANSWERED = "answered"
    CANCELLED = "cancelled"


class PermissionRequest(Base):
    """An agent's question, kept from the session's events: pending until someone (or the
    policy, or a timeout) answers it."""

    __tablename__ = "permission_requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    session_id: Mapped[str] = mapped_column(
        ForeignKey("agent_sessions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    state: Mapped[PermissionState] = mapped_column(StrEnumType(PermissionState), index=True)
    tool_call: Mapped[dict[str, Any]] = mapped_column(JSON)
    options: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    option_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    decided_by: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    policy: Mapped[str | None] = mapped_column(String(64), nullable=True)
    """What decided when no user did: the session's policy, `timeout` or `cancelled`."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(nullable=True)
