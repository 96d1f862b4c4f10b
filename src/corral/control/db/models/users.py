"""People who use Corral, and how they sign in: login links, browser sessions and API tokens."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from corral.control.db.base import Base, StrEnumType, Timestamps, utcnow

__all__ = ["ApiToken", "LinkPurpose", "LoginLink", "User", "UserRole", "UserState", "WebSession"]


class UserRole(StrEnum):
    OWNER = "owner"
    MEMBER = "member"


class UserState(StrEnum):
    INVITED = "invited"
    ACTIVE = "active"
    DISABLED = "disabled"


class LinkPurpose(StrEnum):
    LOGIN = "login"
    INVITE = "invite"


class User(Timestamps, Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    role: Mapped[UserRole] = mapped_column(StrEnumType(UserRole))
    state: Mapped[UserState] = mapped_column(StrEnumType(UserState))
    node_template: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    """The node to ask a provider for when this user's workspace finds no room (`provider`,
    `machine_type`, `region`, `credential_id`, `options`); None: wait for room instead."""


class LoginLink(Base):
    """A single-use link that signs a user in (or accepts an invite); only its hash is kept."""

    __tablename__ = "login_links"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[LinkPurpose] = mapped_column(StrEnumType(LinkPurpose))
    created_by_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
    """Set when the owner revokes an invite, or sends a new one in its place."""


class WebSession(Base):
    """A signed-in browser: the cookie holds the token, the database its hash and CSRF token."""

    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)


class ApiToken(Base):
    """A bearer token for the CLI and scripts; shown once at creation, stored as a hash."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    last4: Mapped[str] = mapped_column(String(4))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(nullable=True)
