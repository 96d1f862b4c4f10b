"""What control plane processes sharing one database coordinate through: leases on work, and
the instance's own id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from corral.control.db.base import Base

__all__ = ["InstanceValue", "Lease"]


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
