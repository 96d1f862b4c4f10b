"""A user's secrets (model API keys, cloud tokens, SSH keys), kept only as AES-GCM ciphertext."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from corral.control.db.base import Base, StrEnumType, Timestamps

__all__ = ["Credential", "CredentialKind"]


class CredentialKind(StrEnum):
    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    GEMINI = "gemini"
    HETZNER = "hetzner"
    GITHUB = "github"
    SSH_KEY = "ssh-key"
    ENV = "env"


class Credential(Timestamps, Base):
    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    kind: Mapped[CredentialKind] = mapped_column(StrEnumType(CredentialKind))
    key_id: Mapped[str] = mapped_column(String(16))
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    last4: Mapped[str] = mapped_column(String(4))
    last_used_at: Mapped[datetime | None] = mapped_column(nullable=True)
