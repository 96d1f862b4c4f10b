"""Agent sessions: a chat with a coding agent in a workspace; starting, prompting, steering and
stopping one, and reading its transcript (which `corral.control.services.sessionevents` stores
as nodes send it).

A session outlives its agent process: prompting a stopped session starts the agent again in the
workspace and continues the conversation (`session/load` where the agent offers it, else a
summary of the transcript).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import AgentSession, Node, Project, SessionEvent, Workspace
from corral.control.live.sessions import SessionHub
from corral.control.nodelink.registry import NodeRegistry
from corral.control.secretbox import SecretBox
from corral.control.services import activity, agents, lifecycle, workspaces
from corral.control.services.lookup import find_by_ref
from corral.control.services.pagination import paginate
from corral.control.services.sessionevents import cancel_pending_requests, text_of
from corral.errors import Conflict, CorralError
from corral.ids import new_id
from corral.protocol.sessions import (
    Policy,
    SessionAck,
    SessionEventKind,
    SessionPrompt,
    SessionRef,
    SessionSetMode,
    SessionSetModel,
    SessionStart,
)
from corral.states import LIVE_SESSION_STATES, SessionState

__all__ = [
    "get_session",
    "list_events",
    "list_sessions",
    "live_link",
    "prompt_session",
    "send_to_session",
    "start_session",
    "stop_session",
]

log = logging.getLogger("corral.sessions")

SUMMARY_CHARS = 20_000


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


# -- starting and steering -----------------------------------------------------------------------


async def start_session(
    db: AsyncSession,
    registry: NodeRegistry,
    box: SecretBox,
    user_id: str,
    *,
    workspace_ref: str,
    agent_name: str,
    policy: Policy | None = None,
    title: str | None = None,
    permission_timeout_seconds: float | None = None,
) -> AgentSession:
    """Start an agent in a running workspace. The credential is checked before anything runs."""
    workspace, _ = await workspaces.running_with_link(db, registry, user_id, workspace_ref)
    spec = await agents.get_agent(db, user_id, agent_name)
    resolved = await agents.resolve(db, user_id, spec.name, workspace.project_id)
    await agents.launch_for(db, box, user_id, spec, resolved)  # fails early, naming the credential
    row = AgentSession(
        id=new_id("ses"),
        user_id=user_id,
        workspace_id=workspace.id,
        project_id=workspace.project_id,
        agent=spec.name,
        title=(title or "")[:200] or None,
        policy=(policy or resolved.policy).value,
        state=SessionState.STARTING,
        model=resolved.model,
        last_seq=0,
    )
    db.add(row)
    activity.record(
        db,
        "session.created",
        row,
        user_id=user_id,
        actor_id=user_id,
        details={"agent": spec.name, "workspace": workspace.name, "policy": row.policy},
    )
    await db.commit()
    await _launch(db, registry, box, row, workspace, permission_timeout_seconds)
    return row


async def _launch(
    db: AsyncSession,
    registry: NodeRegistry,
    box: SecretBox,
    row: AgentSession,
    workspace: Workspace,
    permission_timeout_seconds: float | None,
) -> None:
    """Ask the workspace's node to run the session's agent (again)."""
    spec = await agents.get_agent(db, row.user_id, row.agent)
    resolved = await agents.resolve(db, row.user_id, spec.name, row.project_id)
    launch, env = await agents.launch_for(db, box, row.user_id, spec, resolved)
    project = await db.get(Project, workspace.project_id) if workspace.project_id else None
    start = SessionStart(
        session_id=row.id,
        workspace_id=workspace.id,
        agent=launch,
        env={**(project.env if project else {}), **env},
        policy=Policy(row.policy),
        model=row.model,
        mode=row.mode,
        load_session_id=row.acp_session_id,
        context=await _summary(db, row) if row.acp_session_id else None,
        next_seq=row.last_seq + 1,
        permission_timeout_seconds=permission_timeout_seconds,
    )
    node = await db.get(Node, workspace.node_id) if workspace.node_id else None
    if node is None:
        raise Conflict(f"workspace {workspace.name} has no node", reason="node_gone")
    try:
        await registry.get(node.id, node.name).call("session.start", start, SessionAck)
    except CorralError as exc:
        await lifecycle.transition(db, "session", row, SessionState.ERROR, reason=exc.message)
        await db.commit()
        raise


async def _summary(db: AsyncSession, row: AgentSession) -> str:
    """The conversation so far, for an agent that cannot load it: prompts and replies, newest
    kept when it is long."""
    events = (
        await db.scalars(
            select(SessionEvent)
            .where(
                SessionEvent.session_id == row.id,
                SessionEvent.kind.in_([SessionEventKind.PROMPT, SessionEventKind.UPDATE]),
            )
            .order_by(SessionEvent.seq)
        )
    ).all()
    lines: list[str] = []
    speaker = None
    for event in events:
        if event.kind == SessionEventKind.PROMPT:
            lines.append(f"\nUser: {event.payload.get('text', '')}")
            speaker = "user"
        elif event.payload.get("sessionUpdate") == "agent_message_chunk":
            text = text_of(event.payload)
            if speaker != "agent":
                lines.append("\nAgent: ")
                speaker = "agent"
            lines[-1] += text
    transcript = "".join(lines).strip()[-SUMMARY_CHARS:]
    return (
        "This conversation continues an earlier session whose agent process has ended. "
        "The transcript so far:\n\n" + transcript + "\n\n(end of the earlier transcript)"
    )


async def live_link(
    db: AsyncSession, registry: NodeRegistry, row: AgentSession
) -> tuple[Workspace, Any]:
    if row.workspace_id is None:
        raise Conflict("the session's workspace is gone", reason="workspace_gone")
    workspace, link = await workspaces.running_with_link(
        db, registry, row.user_id, row.workspace_id
    )
    return workspace, link


async def prompt_session(
    db: AsyncSession,
    registry: NodeRegistry,
    box: SecretBox,
    user_id: str,
    ref: str,
    *,
    text: str,
    resources: Sequence[str] = (),
    permission_timeout_seconds: float | None = None,
) -> tuple[str, int]:
    """Send a prompt (queued behind a running turn); a stopped session is started again
    first. Returns the prompt's id and how many prompts wait before it."""
    row = await get_session(db, user_id, ref)
    workspace, link = await live_link(db, registry, row)
    if row.state in (SessionState.STOPPED, SessionState.ERROR):
        await lifecycle.transition(
            db, "session", row, SessionState.STARTING, reason="resumed", actor_id=user_id
        )
        await db.commit()
        await _launch(db, registry, box, row, workspace, permission_timeout_seconds)
    prompt_id = new_id("prt")
    ack = await link.call(
        "session.prompt",
        SessionPrompt(session_id=row.id, prompt_id=prompt_id, text=text, resources=list(resources)),
        SessionAck,
    )
    return prompt_id, ack.queued


async def send_to_session(
    db: AsyncSession,
    registry: NodeRegistry,
    user_id: str,
    ref: str,
    method: str,
    *,
    mode_id: str | None = None,
    model_id: str | None = None,
) -> AgentSession:
    """cancel, set_mode or set_model on a live session."""
    row = await get_session(db, user_id, ref)
    if row.state not in LIVE_SESSION_STATES:
        raise Conflict(f"session {row.id} is {row.state.value}", reason="session_not_running")
    _, link = await live_link(db, registry, row)
    params: SessionRef | SessionSetMode | SessionSetModel
    if method == "session.set_mode" and mode_id is not None:
        params = SessionSetMode(session_id=row.id, mode_id=mode_id)
        row.mode = mode_id
    elif method == "session.set_model" and model_id is not None:
        params = SessionSetModel(session_id=row.id, model_id=model_id)
        row.model = model_id
    else:
        params = SessionRef(session_id=row.id)
    await link.call(method, params, SessionAck)
    await db.commit()
    return row


async def stop_session(
    db: AsyncSession, registry: NodeRegistry, hub: SessionHub, user_id: str, ref: str
) -> AgentSession:
    """End the agent process; the transcript stays and a later prompt starts it again. With no
    node to ask, the session is marked stopped here and its pending permission requests are
    cancelled (their decisions published to `hub`)."""
    row = await get_session(db, user_id, ref)
    if row.state not in LIVE_SESSION_STATES:
        return row
    node_link = None
    if row.workspace_id is not None:
        workspace = await db.get(Workspace, row.workspace_id)
        if workspace is not None and workspace.node_id is not None:
            node_link = registry.connection(workspace.node_id)
    if node_link is not None:
        await node_link.call("session.stop", SessionRef(session_id=row.id), SessionAck)
    else:
        # No node to ask: the agent is gone with it; say so now rather than wait.
        await lifecycle.transition(
            db, "session", row, SessionState.STOPPED, reason="stopped", actor_id=user_id
        )
        cancelled = await cancel_pending_requests(db, row)
        await db.commit()
        if cancelled:
            hub.publish(row.id, cancelled)
    return row


# -- reading ------------------------------------------------------------------------------------


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
