"""State transitions of nodes, workspaces and agent sessions, recorded in one way.

Each transition is checked against the life cycle in `corral.states`, stamped, and written to
the activity feed as `<kind>.<new state>` in the caller's transaction. `claim_transition` is
the same move made only if the row is still in the state it was read in, for moves that two
processes (or a loop and a request) may race to make.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from corral.control.db.base import utcnow
from corral.control.live.changes import note_written
from corral.control.services import activity
from corral.states import ensure_transition

__all__ = ["Stateful", "claim_transition", "explain_state", "transition"]


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


async def claim_transition(
    db: AsyncSession,
    kind: str,
    obj: Stateful[S],
    state: S,
    *,
    reason: str | None = None,
    actor_id: str | None = None,
) -> bool:
    """Move `obj` to `state` as `transition` does, but only if its row is still in the state
    `obj` holds: a conditional update claims the row first, so of two processes making the
    same move one wins and the other gets False (on PostgreSQL the loser waits for the
    winner's commit, then finds the state moved on). The caller commits, and on False rolls
    back or refreshes `obj`."""
    ensure_transition(obj.state, state)
    if not await _update_if_unmoved(db, obj, state=state):
        return False
    return await transition(db, kind, obj, state, reason=reason, actor_id=actor_id)


async def explain_state(db: AsyncSession, obj: Stateful[S], reason: str) -> bool:
    """Give `obj`'s state a new reason (why a workspace waits, say), only if its row is still
    in that state: a loop explaining a wait must not write over a move another process has
    made since it looked. The caller commits; True if the reason changed."""
    if obj.state_reason == reason or not await _update_if_unmoved(db, obj, state_reason=reason):
        return False
    set_committed_value(obj, "state_reason", reason)
    note_written(db, obj)
    return True


async def _update_if_unmoved(db: AsyncSession, obj: Stateful[S], **values: Any) -> bool:
    """Write `values` to `obj`'s row if it is still in the state `obj` holds (one conditional
    UPDATE, leaving `obj` as it is); False if the row has moved on."""
    model = cast(Any, type(obj))
    written = await db.execute(
        update(model)
        .where(model.id == obj.id, model.state == obj.state)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return cast(CursorResult[Any], written).rowcount == 1
