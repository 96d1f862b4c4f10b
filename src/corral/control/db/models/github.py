"""GitHub: the App Corral made through the manifest flow, the GitHub identity linked to each
user, and the pull requests chats opened. Secrets are kept only as AES-GCM ciphertext."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from corral.control.db.base import Base, Timestamps

__all__ = ["GitHubAccount", "GitHubApp", "PullRequest"]


class GitHubApp(Timestamps, Base):
    """The GitHub App of this Corral (one at most). `ciphertext` seals a JSON object holding
    its client secret, webhook secret and private key (`corral.control.services.githubapp`)."""

    __tablename__ = "github_apps"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    app_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    slug: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(100))
    client_id: Mapped[str] = mapped_column(String(100))
    html_url: Mapped[str] = mapped_column(String(2048))
    owner_login: Mapped[str | None] = mapped_column(String(100), nullable=True)
    key_id: Mapped[str] = mapped_column(String(16))
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class GitHubAccount(Timestamps, Base):
    """A user's GitHub identity: who they are there (sign-in) and their user access token, which
    lists the App installations and repositories they may use. `ciphertext` seals a JSON object
    with the access token and, for an App's expiring tokens, the refresh token."""

    __tablename__ = "github_accounts"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    github_id: Mapped[int] = mapped_column(BigInteger, unique=True)
    login: Mapped[str] = mapped_column(String(100))
    name: Mapped[str | None] = mapped_column(String(255), nullable=True)
    email: Mapped[str | None] = mapped_column(String(320), nullable=True)
    key_id: Mapped[str] = mapped_column(String(16))
    nonce: Mapped[bytes] = mapped_column(LargeBinary(12))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    token_expires_at: Mapped[datetime | None] = mapped_column(nullable=True)

    @property
    def id(self) -> str:
        return self.user_id


class PullRequest(Timestamps, Base):
    """A pull request opened from a chat; webhooks keep its state and checks current."""

    __tablename__ = "pull_requests"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    session_id: Mapped[str | None] = mapped_column(
        ForeignKey("agent_sessions.id", ondelete="SET NULL"), index=True, nullable=True
    )
    project_id: Mapped[str | None] = mapped_column(
        ForeignKey("projects.id", ondelete="SET NULL"), index=True, nullable=True
    )
    repo: Mapped[str] = mapped_column(String(200), index=True)
    """owner/name on GitHub."""
    number: Mapped[int] = mapped_column(BigInteger)
    url: Mapped[str] = mapped_column(String(2048))
    branch: Mapped[str] = mapped_column(String(255))
    base: Mapped[str] = mapped_column(String(255))
    title: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(16), default="open")
    """open, closed or merged."""
    checks: Mapped[str | None] = mapped_column(String(16), nullable=True)
    """None (nothing heard), passed or failed."""
    failed_check: Mapped[str | None] = mapped_column(Text, nullable=True)
    """What the last failed check said (its name, title and summary), to send back to the chat."""
    review_requested: Mapped[str | None] = mapped_column(String(100), nullable=True)
    commit: Mapped[str | None] = mapped_column(String(64), nullable=True)

    @property
    def name(self) -> str:
        return f"{self.repo}#{self.number}"
