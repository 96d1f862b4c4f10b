"""Disabling and enabling a member's account (owner only), and what they have running.

A disabled account's API tokens, browser sessions and login links are refused (the sign-in
checks in `corral.control.services.auth` look at the account's state on every request), and
its agent sessions are stopped, so nothing keeps acting for it; their transcripts stay.
Enabling it again lets the same tokens and browser sessions in again, as nothing of them was
revoked, and a stopped session resumes on its next prompt. Closing the account's open
WebSockets is the caller's part: they live in the API's process, not in the database.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import AgentSession, Node, User, UserRole, UserState, Workspace
from corral.control.live.sessions import SessionHub
from corral.control.nodelink.registry import NodeRegistry
from corral.control.services import activity
from corral.control.services.sessions import commands
from corral.control.services.users import get_user
from corral.errors import Conflict, CorralError
from corral.states import LIVE_SESSION_STATES, SessionState

__all__ = ["RunningSession", "disable_user", "enable_user", "running_sessions", "user_detail"]

log = logging.getLogger("corral.accounts")


@dataclass(frozen=True)
class RunningSession:
    """What the owner is shown of another user's session: where it runs, not what it says."""

    id: str
    agent: str
    state: SessionState
    workspace: str | None
    node: str | None
    created_at: datetime
    stop_error: str | None = None
    """Why it could not be stopped, when disabling its user tried."""


async def running_sessions(db: AsyncSession, user_id: str) -> list[RunningSession]:
    """The user's agent sessions that are live (starting, idle, running or awaiting
    permission), newest first."""
    rows = (
        await db.execute(
            select(AgentSession, Workspace.name, Node.name)
            .outerjoin(Workspace, Workspace.id == AgentSession.workspace_id)
            .outerjoin(Node, Node.id == Workspace.node_id)
            .where(
                AgentSession.user_id == user_id,
                AgentSession.state.in_(LIVE_SESSION_STATES),
            )
            .order_by(AgentSession.id.desc())
        )
    ).all()
    return [
        RunningSession(
            id=row.id,
            agent=row.agent,
            state=row.state,
            workspace=workspace,
            node=node,
            created_at=row.created_at,
        )
        for row, workspace, node in rows
    ]


async def user_detail(db: AsyncSession, actor: User, ref: str) -> tuple[User, list[RunningSession]]:
    user = await get_user(db, actor, ref, action="see other users")
    return user, await running_sessions(db, user.id)


async def disable_user(
    db: AsyncSession, registry: NodeRegistry, hub: SessionHub, actor: User, ref: str
) -> tuple[User, list[RunningSession]]:
    """Disable a member who has joined, and stop their live sessions; return the user and the
    sessions that were live, each with why it could not be stopped, if it could not.

    Disabling a disabled user again only tries again to stop what still runs (a session whose
    node was not linked the first time, say)."""
    user = await get_user(db, actor, ref, action="disable users")
    if user.role == UserRole.OWNER:
        raise Conflict("the owner cannot be disabled", reason="owner_cannot_be_disabled")
    if user.state == UserState.INVITED:
        raise Conflict(
            f"{user.name} has not joined yet: revoke their invite instead "
            f"(`corral users revoke-invite {user.name}`)",
            reason="user_not_joined",
        )
    if user.state != UserState.DISABLED:
        user.state = UserState.DISABLED
        activity.record(db, "user.disabled", user, user_id=actor.id, actor_id=actor.id)
        await db.commit()
    live = await running_sessions(db, user.id)
    return user, [await _stop(db, registry, hub, user, session) for session in live]


async def _stop(
    db: AsyncSession, registry: NodeRegistry, hub: SessionHub, user: User, session: RunningSession
) -> RunningSession:
    try:
        await commands.stop(db, registry, hub, user.id, session.id)
    except CorralError as exc:
        log.warning("could not stop session %s of a disabled user: %s", session.id, exc.message)
        await db.rollback()
        return replace(session, stop_error=exc.message)
    return session


async def enable_user(db: AsyncSession, actor: User, ref: str) -> User:
    """Let a disabled user in again, with the tokens and browser sessions they had."""
    user = await get_user(db, actor, ref, action="enable users")
    if user.state == UserState.INVITED:
        raise Conflict(
            f"{user.name} has not joined yet; they join with their invite link",
            reason="user_not_joined",
        )
    if user.state == UserState.DISABLED:
        user.state = UserState.ACTIVE
        activity.record(db, "user.enabled", user, user_id=actor.id, actor_id=actor.id)
        await db.commit()
    return user
