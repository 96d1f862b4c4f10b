"""Nodes: machines running a node daemon, and the single-use tokens they join with."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from corral.control.db.base import Base, StrEnumType, Timestamps, utcnow
from corral.states import NodeState

__all__ = ["MachineState", "Node", "NodeJoinToken", "NodeStep"]


class MachineState(StrEnum):
    """Where the machine under a provider's node is: what the reconciler must still do."""

    NONE = "none"
    """Nothing asked of the provider yet (or a `manual`/`local` node, which has no machine)."""
    MADE = "made"
    """The provider made it (or installed onto it); it may cost money until it is gone."""
    GONE = "gone"
    """Deleted (or uninstalled) at the provider."""


class Node(Timestamps, Base):
    __tablename__ = "nodes"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(32))
    state: Mapped[NodeState] = mapped_column(StrEnumType(NodeState))
    state_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    state_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    # What the provider returned about the machine it made; only the provider reads it.
    provider_handle: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    credential_hash: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    capacity: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    usage: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    version: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_seen_at: Mapped[datetime | None] = mapped_column(nullable=True)

    # What a provider was asked to make (empty for `manual` and `local` nodes).
    machine_type: Mapped[str | None] = mapped_column(String(64), nullable=True)
    region: Mapped[str | None] = mapped_column(String(64), nullable=True)
    options: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """What the user told the provider (for `ssh`: host, port, user)."""
    credential_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    """The user's credential the provider works with (a cloud token, an SSH key)."""
    machine: Mapped[MachineState] = mapped_column(
        StrEnumType(MachineState), default=MachineState.NONE
    )
    hourly_price: Mapped[float | None] = mapped_column(Float, nullable=True)
    currency: Mapped[str | None] = mapped_column(String(8), nullable=True)
    billing_started_at: Mapped[datetime | None] = mapped_column(nullable=True)
    billing_ended_at: Mapped[datetime | None] = mapped_column(nullable=True)

    # The node reconciler's bookkeeping (services/provisioning.py).
    provision_deadline_at: Mapped[datetime | None] = mapped_column(nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    idle_since: Mapped[datetime | None] = mapped_column(nullable=True)


class NodeJoinToken(Base):
    __tablename__ = "node_join_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    """Set when the owner issues a new join token in its place."""


class NodeStep(Base):
    """One step of making a node's machine and bootstrapping it ("creating the server",
    "installing Docker"). A row each, not a list on the node: the reconciler and the machine
    report steps at the same moment from different sessions, and an insert loses neither."""

    __tablename__ = "node_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    node_id: Mapped[str] = mapped_column(ForeignKey("nodes.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    step: Mapped[str] = mapped_column(Text)
