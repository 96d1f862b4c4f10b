"""Finding a user's agent sessions, reading their events, and reaching the node that runs one."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import AgentSession, SessionEvent, Workspace
from corral.control.nodelink.registry import NodeCalls, NodeRegistry
from corral.control.services import workspaces
from corral.control.services.lookup import find_by_ref
from corral.control.services.pagination import paginate
from corral.errors import Conflict
from corral.states import SessionState

__all__ = ["get_session", "list_events", "list_sessions", "live_link"]


async def get_session(db: AsyncSession, user_id: str, ref: str) -> AgentSession:
    return await find_by_ref(
        db,
        AgentSession,
        ref,
        what="session",
        where=[AgentSession.user_id == user_id],
        by_name=False,
    )


async def list_sessions(
    db: AsyncSession,
    user_id: str,
    *,
    limit: int,
    cursor: str | None,
    workspace_id: str | None = None,
    project_id: str | None = None,
    states: Sequence[SessionState] = (),
) -> tuple[Sequence[AgentSession], str | None]:
    statement = select(AgentSession).where(AgentSession.user_id == user_id)
    if workspace_id is not None:
        statement = statement.where(AgentSession.workspace_id == workspace_id)
    if project_id is not None:
        statement = statement.where(AgentSession.project_id == project_id)
    if states:
        statement = statement.where(AgentSession.state.in_(states))
    return await paginate(db, statement, AgentSession.id, limit=limit, cursor=cursor)


async def list_events(
    db: AsyncSession, user_id: str, ref: str, *, after: int, limit: int
) -> tuple[AgentSession, Sequence[SessionEvent]]:
    row = await get_session(db, user_id, ref)
    events = (
        await db.scalars(
            select(SessionEvent)
            .where(SessionEvent.session_id == row.id, SessionEvent.seq > after)
            .order_by(SessionEvent.seq)
            .limit(limit)
        )
    ).all()
    return row, events


async def live_link(
    db: AsyncSession, registry: NodeRegistry, row: AgentSession
) -> tuple[Workspace, NodeCalls]:
    """The session's running workspace and the link to its node."""
    if row.workspace_id is None:
        raise Conflict("the session's workspace is gone", reason="workspace_gone")
    return await workspaces.running_with_link(db, registry, row.user_id, row.workspace_id)
