"""Agent sessions: a chat with a coding agent in a workspace, and its transcript of events.

The transcript lives here, not on the node: every event a node sends is stored with its
sequence number (`ingest`), and the session's state, latest message, usage and permission
requests are derived from those events in the same transaction. A session outlives its agent
process: prompting a stopped session starts the agent again in the workspace and continues
the conversation (`session/load` where the agent offers it, else a summary of the transcript).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.engine import JsonText
from corral.control.db.models import (
    AgentSession,
    Node,
    PermissionRequest,
    PermissionState,
    Project,
    SessionEvent,
    Workspace,
)
from corral.control.nodelink.registry import NodeRegistry
from corral.control.secretbox import SecretBox
from corral.control.services import activity, agents, lifecycle
from corral.control.services.pagination import paginate
from corral.control.services.sessionusage import context_usage, turn_usage
from corral.control.services.terminals import node_for
from corral.control.sessionhub import SessionHub
from corral.errors import Conflict, CorralError, InvalidInput, NotFound
from corral.ids import new_id
from corral.protocol.sessions import (
    PermissionAnswer,
    Policy,
    SessionAck,
    SessionEventKind,
    SessionEvents,
    SessionPrompt,
    SessionRef,
    SessionSetMode,
    SessionSetModel,
    SessionStart,
)
from corral.states import SessionState

__all__ = [
    "answer_permission",
    "event_json",
    "get_session",
    "ingest",
    "list_events",
    "list_permission_requests",
    "list_sessions",
    "mark_node_sessions_gone",
    "prompt_session",
    "send_to_session",
    "start_session",
    "stop_session",
]

log = logging.getLogger("corral.sessions")

LAST_MESSAGE_CHARS = 500
SUMMARY_CHARS = 20_000
LIVE_STATES = (
    SessionState.STARTING,
    SessionState.IDLE,
    SessionState.RUNNING,
    SessionState.AWAITING_PERMISSION,
)


async def get_session(db: AsyncSession, user_id: str, ref: str) -> AgentSession:
    row = await db.scalar(
        select(AgentSession).where(AgentSession.user_id == user_id, AgentSession.id == ref)
    )
    if row is None:
        raise NotFound(f"no session {ref!r}")
    return row


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
    workspace, _ = await node_for(db, registry, user_id, workspace_ref)
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
            text = _text_of(event.payload)
            if speaker != "agent":
                lines.append("\nAgent: ")
                speaker = "agent"
            lines[-1] += text
    transcript = "".join(lines).strip()[-SUMMARY_CHARS:]
    return (
        "This conversation continues an earlier session whose agent process has ended. "
        "The transcript so far:\n\n" + transcript + "\n\n(end of the earlier transcript)"
    )


def _text_of(update: dict[str, Any]) -> str:
    content = update.get("content")
    if isinstance(content, dict) and content.get("type") == "text":
        return str(content.get("text", ""))
    return ""


async def _live_link(
    db: AsyncSession, registry: NodeRegistry, row: AgentSession
) -> tuple[Workspace, Any]:
    if row.workspace_id is None:
        raise Conflict("the session's workspace is gone", reason="workspace_gone")
    workspace, link = await node_for(db, registry, row.user_id, row.workspace_id)
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
    workspace, link = await _live_link(db, registry, row)
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
    if row.state not in LIVE_STATES:
        raise Conflict(f"session {row.id} is {row.state.value}", reason="session_not_running")
    _, link = await _live_link(db, registry, row)
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
    db: AsyncSession, registry: NodeRegistry, user_id: str, ref: str
) -> AgentSession:
    """End the agent process; the transcript stays and a later prompt starts it again."""
    row = await get_session(db, user_id, ref)
    if row.state not in LIVE_STATES:
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
        await db.commit()
    return row


# -- events from nodes ---------------------------------------------------------------------------


def event_json(session_id: str, seq: int, kind: str, payload: str, at: datetime) -> str:
    """One event as viewers get it, around its payload's JSON (serialized once, in `ingest`)."""
    return (
        f'{{"session_id":"{session_id}","seq":{seq},"kind":"{kind}",'
        f'"payload":{payload},"at":"{at.isoformat()}"}}'
    )


async def ingest(db: AsyncSession, hub: SessionHub, node_id: str, batch: SessionEvents) -> int:
    """Store a node's events (those not stored yet) and what follows from them; return the
    highest sequence number stored. A node can only send events of its own workspaces."""
    # One query for the session and the check that it runs on this node: it is per batch.
    row = await db.scalar(
        select(AgentSession)
        .join(Workspace, Workspace.id == AgentSession.workspace_id)
        .where(AgentSession.id == batch.session_id, Workspace.node_id == node_id)
        .with_for_update(of=AgentSession)
    )
    if row is None:
        raise NotFound(f"no session {batch.session_id} on this node")
    fresh = [event for event in batch.events if event.seq > row.last_seq]
    fresh.sort(key=lambda event: event.seq)
    rows = []
    published: list[tuple[int, str]] = []
    for event in fresh:
        payload = JsonText(json.dumps(event.payload, separators=(",", ":"), ensure_ascii=False))
        rows.append(
            {
                "session_id": row.id,
                "seq": event.seq,
                "kind": event.kind.value,
                "payload": payload,
                "created_at": event.at,
            }
        )
        if event.kind == SessionEventKind.UPDATE and event.payload.get("sessionUpdate") in (
            "agent_message_chunk",
            "agent_thought_chunk",
        ):
            _note_chunk(row, event.payload)  # most events: no query, no await
        else:
            await _apply(db, row, event.kind, event.payload)
        row.last_seq = event.seq
        published.append(
            (event.seq, event_json(row.id, event.seq, event.kind.value, payload, event.at))
        )
    if rows:
        # One multi-row INSERT for the batch: the ORM's unit of work per row was the bottleneck.
        await db.execute(insert(cast(Table, SessionEvent.__table__)), rows)
    await db.commit()
    if published:
        hub.publish(row.id, published)
    return row.last_seq


async def _apply(
    db: AsyncSession, row: AgentSession, kind: SessionEventKind, payload: dict[str, Any]
) -> None:
    """What an event changes beyond the transcript."""
    if kind == SessionEventKind.STATE:
        await _move(db, row, payload)
    elif kind == SessionEventKind.UPDATE:
        update_kind = payload.get("sessionUpdate")
        if update_kind == "usage_update":
            row.context_usage = context_usage(payload) or row.context_usage
        elif update_kind == "current_mode_update" and isinstance(payload.get("currentModeId"), str):
            row.mode = payload["currentModeId"][:200]
        elif update_kind == "config_option_update":
            model = _model_option_value(payload.get("configOptions"))
            if model is not None:
                row.model = model
    elif kind == SessionEventKind.PROMPT:
        row.last_message = None  # the next reply starts a new one
        if row.title is None and isinstance(payload.get("text"), str):
            row.title = (
                payload["text"].strip().splitlines()[0][:80] if payload["text"].strip() else None
            )
    elif kind == SessionEventKind.TURN_END:
        row.turn_usage = turn_usage(payload.get("usage")) or row.turn_usage
    elif kind == SessionEventKind.NOTICE and payload.get("code") == "agent_ready":
        row.agent_info = {k: v for k, v in payload.items() if k not in ("code", "message")}
    elif kind == SessionEventKind.PERMISSION_REQUEST:
        db.add(
            PermissionRequest(
                id=str(payload.get("request_id")),
                session_id=row.id,
                user_id=row.user_id,
                state=PermissionState.PENDING,
                tool_call=payload.get("tool_call") or {},
                options=payload.get("options") or [],
            )
        )
    elif kind == SessionEventKind.PERMISSION_DECISION:
        await db.flush()
        request = await db.get(PermissionRequest, str(payload.get("request_id")))
        if request is not None:
            selected = payload.get("outcome") == "selected"
            request.state = PermissionState.ANSWERED if selected else PermissionState.CANCELLED
            request.option_id = payload.get("option_id")
            request.decided_by = payload.get("by")
            request.policy = payload.get("policy")
            request.decided_at = utcnow()


def _model_option_value(options: Any) -> str | None:
    """The current value of the model config option (category `model`), if the agent has one."""
    for option in options if isinstance(options, list) else ():
        if isinstance(option, dict) and option.get("category") == "model":
            value = option.get("currentValue")
            return value[:200] if isinstance(value, str) else None
    return None


def _note_chunk(row: AgentSession, update: dict[str, Any]) -> None:
    if update.get("sessionUpdate") == "agent_message_chunk":
        current = row.last_message or ""
        if len(current) < LAST_MESSAGE_CHARS:
            row.last_message = (current + _text_of(update))[:LAST_MESSAGE_CHARS]


async def _move(db: AsyncSession, row: AgentSession, payload: dict[str, Any]) -> None:
    try:
        state = SessionState(str(payload.get("state")))
    except ValueError:
        log.warning("session %s: a node reported an unknown state %r", row.id, payload.get("state"))
        return
    if isinstance(payload.get("acp_session_id"), str):
        row.acp_session_id = payload["acp_session_id"][:200]
    reason = payload.get("reason")
    reason = str(reason)[:4000] if reason else None
    if state == SessionState.ERROR and payload.get("stderr"):
        reason = f"{reason}\n" + "\n".join(str(line) for line in payload["stderr"][-10:])
    if row.state == state:
        return
    try:
        await lifecycle.transition(db, "session", row, state, reason=reason)
    except Conflict:
        # The node runs the agent: its word is the truth, even after a missed event.
        row.state, row.state_reason, row.state_changed_at = state, reason, utcnow()


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


# -- permission requests ------------------------------------------------------------------------


async def list_permission_requests(
    db: AsyncSession, user_id: str, *, pending_only: bool, limit: int, cursor: str | None
) -> tuple[Sequence[PermissionRequest], str | None]:
    statement = select(PermissionRequest).where(PermissionRequest.user_id == user_id)
    if pending_only:
        statement = statement.where(PermissionRequest.state == PermissionState.PENDING)
    return await paginate(db, statement, PermissionRequest.id, limit=limit, cursor=cursor)


async def answer_permission(
    db: AsyncSession,
    registry: NodeRegistry,
    user_id: str,
    request_id: str,
    *,
    option_id: str | None,
) -> PermissionRequest:
    """Answer with one of the agent's own options, or None to cancel the request."""
    request = await db.scalar(
        select(PermissionRequest).where(
            PermissionRequest.id == request_id, PermissionRequest.user_id == user_id
        )
    )
    if request is None:
        raise NotFound(f"no permission request {request_id!r}")
    if request.state != PermissionState.PENDING:
        raise Conflict(
            f"permission request {request_id} is already {request.state.value}",
            reason="not_pending",
        )
    if option_id is not None:
        valid = [str(o.get("optionId")) for o in request.options]
        if option_id not in valid:
            raise InvalidInput(
                f"{option_id!r} is not one of the agent's options: {', '.join(valid)}",
                details=[{"field": "body.option_id"}],
            )
    row = await db.get(AgentSession, request.session_id)
    assert row is not None
    _, link = await _live_link(db, registry, row)
    await link.call(
        "session.permission",
        PermissionAnswer(session_id=row.id, request_id=request.id, option_id=option_id, by=user_id),
        SessionAck,
    )
    # The node's decision event records it too; answering here makes a second answer a 409
    # at once instead of after the event arrives.
    request.state = PermissionState.ANSWERED if option_id else PermissionState.CANCELLED
    request.option_id, request.decided_by, request.decided_at = option_id, user_id, utcnow()
    await db.commit()
    return request


async def mark_node_sessions_gone(
    db: AsyncSession, node_id: str, running: set[str], reason: str
) -> None:
    """After a node (re)links: its live sessions it no longer runs have ended with it."""
    rows = (
        await db.scalars(
            select(AgentSession)
            .join(Workspace, Workspace.id == AgentSession.workspace_id)
            .where(Workspace.node_id == node_id, AgentSession.state.in_(LIVE_STATES))
        )
    ).all()
    for row in rows:
        if row.id not in running:
            await lifecycle.transition(db, "session", row, SessionState.STOPPED, reason=reason)
            for request in (
                await db.scalars(
                    select(PermissionRequest).where(
                        PermissionRequest.session_id == row.id,
                        PermissionRequest.state == PermissionState.PENDING,
                    )
                )
            ).all():
                request.state, request.policy = PermissionState.CANCELLED, "session ended"
                request.decided_at = utcnow()
    await db.commit()
