"""State transitions of nodes, workspaces and agent sessions, recorded in one way.

Each transition is checked against the life cycle in `corral.states`, stamped, and written to
the activity feed as `<kind>.<new state>` in the caller's transaction.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Protocol, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.services import activity
from corral.states import ensure_transition

__all__ = ["Stateful", "transition"]


S = TypeVar("S", bound=StrEnum)


class Stateful(Protocol[S]):
    id: str
    user_id: str
    state: S
    state_reason: str | None
    state_changed_at: datetime

    @property
    def name(self) -> str: ...


async def transition(
    db: AsyncSession,
    kind: str,
    obj: Stateful[S],
    state: S,
    *,
    reason: str | None = None,
    actor_id: str | None = None,
) -> bool:
    """Move `obj` to `state`; return False if it is there already (a new reason is kept, but
    the feed gets no second entry for the same state)."""
    if obj.state == state:
        obj.state_reason = reason
        return False
    ensure_transition(obj.state, state)
    previous = obj.state
    obj.state, obj.state_reason, obj.state_changed_at = state, reason, utcnow()
    details = {"from": previous.value, **({"reason": reason} if reason else {})}
    activity.record(
        db, f"{kind}.{state.value}", obj, user_id=obj.user_id, actor_id=actor_id, details=details
    )
    return True
