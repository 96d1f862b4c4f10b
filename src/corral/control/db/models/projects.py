"""Projects: a named git repository with a default branch and environment variables."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, String, UniqueConstraint
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
