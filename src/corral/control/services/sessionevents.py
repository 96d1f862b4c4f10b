"""A session's transcript as nodes send it: every event stored with its sequence number
(`ingest`), and what follows from it (the session's state, latest message, usage and permission
requests) in the same transaction; and what the control plane concludes itself when a node
has lost a session (`mark_node_sessions_gone`), including the cancelling of the permission
requests of a session that ended (`cancel_pending_requests`)."""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.engine import JsonText
from corral.control.db.models import (
    AgentSession,
    PermissionRequest,
    PermissionState,
    SessionEvent,
    Workspace,
)
from corral.control.live.sessions import SessionHub
from corral.control.services import lifecycle
from corral.control.services.sessionusage import context_usage, turn_usage
from corral.errors import Conflict, NotFound
from corral.protocol.sessions import SessionEventKind, SessionEvents
from corral.states import LIVE_SESSION_STATES, SessionState

__all__ = [
    "LAST_MESSAGE_CHARS",
    "SESSION_ENDED",
    "cancel_pending_requests",
    "event_json",
    "ingest",
    "mark_node_sessions_gone",
    "text_of",
]

log = logging.getLogger("corral.sessions")

LAST_MESSAGE_CHARS = 500
ENDED_STATES = (SessionState.STOPPED, SessionState.ERROR)
SESSION_ENDED = "session ended"
"""What decided a permission request that its session's end cancelled (the `policy` of its
decision; the web app says "the session ended")."""


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
    highest = max(event.seq for event in batch.events)
    if fresh and row.state in ENDED_STATES:
        # The agent process is gone (its node ends a session with this event): nothing will
        # answer what it still asked.
        published += await cancel_pending_requests(db, row)
    await db.commit()
    if published:
        hub.publish(row.id, published)
    # The node's own numbers only: events this control plane added are not the node's to forget.
    return min(row.last_seq, highest)


async def cancel_pending_requests(db: AsyncSession, row: AgentSession) -> list[tuple[int, str]]:
    """Cancel the session's pending permission requests because it ended, each with its
    `permission_decision` event in the transcript (so a chat shows it cancelled, not waiting
    forever). Returns the events for the caller to publish once it has committed.

    The events take the next sequence numbers, which is safe when the node will send nothing
    more for the session: after its last `state` event, or once it has relinked without it.
    (A node killed with events still in its outbox may deliver them after the relink that
    declared the session gone; one that collides with a number used here is dropped.)"""
    requests = (
        await db.scalars(
            select(PermissionRequest)
            .where(
                PermissionRequest.session_id == row.id,
                PermissionRequest.state == PermissionState.PENDING,
            )
            .order_by(PermissionRequest.created_at)
        )
    ).all()
    now = utcnow()
    rows: list[dict[str, Any]] = []
    published: list[tuple[int, str]] = []
    for request in requests:
        request.state, request.policy, request.decided_at = (
            PermissionState.CANCELLED,
            SESSION_ENDED,
            now,
        )
        decision = {
            "request_id": request.id,
            "outcome": "cancelled",
            "option_id": None,
            "by": None,
            "policy": SESSION_ENDED,
        }
        payload = JsonText(json.dumps(decision, separators=(",", ":")))
        row.last_seq += 1
        kind = SessionEventKind.PERMISSION_DECISION.value
        rows.append(
            {
                "session_id": row.id,
                "seq": row.last_seq,
                "kind": kind,
                "payload": payload,
                "created_at": now,
            }
        )
        published.append((row.last_seq, event_json(row.id, row.last_seq, kind, payload, now)))
    if rows:
        await db.execute(insert(cast(Table, SessionEvent.__table__)), rows)
    return published


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
            row.last_message = (current + text_of(update))[:LAST_MESSAGE_CHARS]


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


def text_of(update: dict[str, Any]) -> str:
    content = update.get("content")
    if isinstance(content, dict) and content.get("type") == "text":
        return str(content.get("text", ""))
    return ""


async def mark_node_sessions_gone(
    db: AsyncSession, hub: SessionHub, node_id: str, running: set[str], reason: str
) -> None:
    """After a node (re)links: its live sessions it no longer runs have ended with it, and
    their pending permission requests are cancelled."""
    rows = (
        await db.scalars(
            select(AgentSession)
            .join(Workspace, Workspace.id == AgentSession.workspace_id)
            .where(Workspace.node_id == node_id, AgentSession.state.in_(LIVE_SESSION_STATES))
        )
    ).all()
    published: dict[str, list[tuple[int, str]]] = {}
    for row in rows:
        if row.id not in running:
            await lifecycle.transition(db, "session", row, SessionState.STOPPED, reason=reason)
            published[row.id] = await cancel_pending_requests(db, row)
    await db.commit()
    for session_id, events in published.items():
        if events:
            hub.publish(session_id, events)
