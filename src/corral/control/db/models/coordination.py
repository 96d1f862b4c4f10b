"""What control plane processes sharing one database coordinate through: leases on work, the
instance's own id, the replicas alive and which holds each node's link, and the short-lived
things any replica must honour (terminal tickets, failed sign-in attempts)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from corral.control.db.base import Base

__all__ = [
    "InstanceValue",
    "Lease",
    "NodeLinkHolder",
    "Replica",
    "SignInFailure",
    "TerminalAccessTicket",
]


class Lease(Base):
    """One process's hold on a piece of work (`node:<id>`, `sweep:orphans`) until it expires:
    another process takes it over only after that, so a crashed holder delays work, never
    blocks it."""

    __tablename__ = "leases"

    key: Mapped[str] = mapped_column(String(120), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]


class InstanceValue(Base):
    """Values of this Corral installation, such as `instance_id`, which labels every machine it
    makes at a provider (so the orphan sweeper finds its own and only its own)."""

    __tablename__ = "instance_values"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Replica(Base):
    """A control plane process serving this database, and where the others reach it; alive
    while it keeps `seen_at` fresh (`corral.control.replicas`)."""

    __tablename__ = "replicas"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    url: Mapped[str] = mapped_column(Text)
    key_id: Mapped[str] = mapped_column(String(16))
    """The id of its secret key (not the key): replicas must share one."""
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime]


class NodeLinkHolder(Base):
    """Which replica holds a node's link now: the one the other replicas forward to."""

    __tablename__ = "node_links"

    node_id: Mapped[str] = mapped_column(
        ForeignKey("nodes.id", ondelete="CASCADE"), primary_key=True
    )
    replica_id: Mapped[str] = mapped_column(String(40), index=True)
    linked_at: Mapped[datetime]


class TerminalAccessTicket(Base):
    """A single-use ticket that opens one terminal's WebSocket (`corral.control.terminaltickets`);
    only its hash is kept."""

    __tablename__ = "terminal_tickets"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    workspace_id: Mapped[str] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    terminal_id: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(index=True)


class SignInFailure(Base):
    """One failed sign-in attempt from a client address (`corral.control.ratelimit`)."""

    __tablename__ = "sign_in_failures"
    __table_args__ = (Index("ix_sign_in_failures_client_at", "client", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    client: Mapped[str] = mapped_column(String(128))
    at: Mapped[datetime]
