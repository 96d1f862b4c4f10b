"""The activity feed: recording what happened, and listing it newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import ActivityEvent
from corral.control.services.pagination import paginate

__all__ = ["list_activity", "record"]


class Subject(Protocol):
    """What an event is about: any object with an id and a name (a project, a token, a user)."""

    @property
    def id(self) -> str: ...

    @property
    def name(self) -> str: ...


def record(
    db: AsyncSession,
    action: str,
    subject: Subject,
    *,
    user_id: str,
    actor_id: str | None,
    details: dict[str, Any] | None = None,
) -> ActivityEvent:
    """Add an event to the caller's transaction: it commits (or not) with the change it describes.

    `action` is `<object type>.<verb>`, e.g. `project.created`. `user_id` is whose feed it goes
    to, `actor_id` who did it (None for Corral itself). `details` must never hold a secret value:
    it is shown to the user as it is.
    """
    event = ActivityEvent(
        user_id=user_id,
        actor_id=actor_id,
        action=action,
        object_type=action.partition(".")[0],
        object_id=subject.id,
        object_name=subject.name,
        details=details or {},
    )
    db.add(event)
    return event


async def list_activity(
    db: AsyncSession,
    user_id: str,
    *,
    limit: int,
    cursor: str | None,
    object_type: str | None = None,
    object_id: str | None = None,
) -> tuple[Sequence[ActivityEvent], str | None]:
    statement = select(ActivityEvent).where(ActivityEvent.user_id == user_id)
    if object_type is not None:
        statement = statement.where(ActivityEvent.object_type == object_type)
    if object_id is not None:
        statement = statement.where(ActivityEvent.object_id == object_id)
    return await paginate(db, statement, ActivityEvent.id, limit=limit, cursor=cursor)
