"""Projects: a named git repository with a default branch and environment variables."""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from corral.control.db.base import Base, Timestamps

__all__ = ["Project"]


class Project(Timestamps, Base):
    __tablename__ = "projects"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    repo: Mapped[str] = mapped_column(String(2048))
    default_branch: Mapped[str] = mapped_column(String(255))
    env: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    runtime: Mapped[str | None] = mapped_column(String(32), nullable=True)
    """The runtime its workspaces use; None: devcontainer where the node has Docker, else host."""
    cpus: Mapped[float | None] = mapped_column(Float, nullable=True)
    memory_bytes: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    pids: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Limits of each of its workspaces; None: the node's default for the runtime."""
    git_credential_id: Mapped[str | None] = mapped_column(
        ForeignKey("credentials.id", ondelete="SET NULL"), nullable=True
    )
    """The user's `github` (token) or `ssh-key` credential its clones and pushes use."""
    github_repo: Mapped[str | None] = mapped_column(String(200), nullable=True)
    """owner/name when the repository is on the configured GitHub: pull requests go there."""
    github_installation_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    """The GitHub App installation that reaches the repository (its tokens clone and push)."""
    ssh_known_hosts: Mapped[str | None] = mapped_column(Text, nullable=True)
    """With an `ssh-key` credential: the known_hosts lines of its server's host key, pinned when
    the project was added (GitHub's published keys, or what the server showed then)."""
    idle_timeout_minutes: Mapped[int | None] = mapped_column(Integer, nullable=True)
    """Stop its workspaces after this long idle; None: the control plane's default; 0: never."""
