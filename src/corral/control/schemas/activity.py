"""Schemas for the activity feed."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from corral.control.schemas.common import PublicModel

__all__ = ["ActivityPublic"]


class ActivityPublic(PublicModel):
    id: int
    actor_id: str | None
    action: str
    object_type: str
    object_id: str
    object_name: str | None
    details: dict[str, Any]
    created_at: datetime
