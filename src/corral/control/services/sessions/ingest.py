"""A session's transcript as nodes send it: every event stored with its sequence number
(`stage`, which `ingester.Ingester` runs), and what follows from it (the session's state, latest
message, usage, mode, model and permission requests) in the same transaction; and what the
control plane concludes itself when a node has lost a session (`mark_node_sessions_gone`)."""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.models import AgentSession, Workspace
from corral.control.live.sessions import SessionHub
from corral.control.services import lifecycle
from corral.control.services.sessions import permissions
from corral.control.services.sessions.transcript import EventBatch, LiveEvent, text_of
from corral.control.services.sessions.usage import context_usage, turn_usage
from corral.errors import Conflict, NotFound
from corral.protocol.sessions import SessionEventKind, SessionEvents
from corral.states import LIVE_SESSION_STATES, SessionState

__all__ = ["LAST_MESSAGE_CHARS", "mark_node_sessions_gone", "stage"]

log = logging.getLogger("corral.sessions")

LAST_MESSAGE_CHARS = 500
_NODES_SESSION = (
    select(AgentSession)
    .join(Workspace, Workspace.id == AgentSession.workspace_id)
    .where(AgentSession.id == bindparam("session_id"), Workspace.node_id == bindparam("node_id"))
    .with_for_update(of=AgentSession)
)
"""A session, if it runs on a node: made once, since each batch asks it."""
ENDED_STATES = (SessionState.STOPPED, SessionState.ERROR)


async def stage(
    db: AsyncSession, node_id: str, batch: SessionEvents
) -> tuple[int, list[LiveEvent]]:
    """Stage a node's events (those not stored yet) and what follows from them in `db`'s
    transaction, which the caller commits (with other batches: `ingester.Ingester`) before
    publishing what this returns: the highest sequence number stored, and the events for
    viewers. A node can only send events of its own workspaces."""
    # One query for the session and the check that it runs on this node: it is per batch.
    # Without an autoflush first: what earlier batches of the transaction changed in their
    # sessions cannot change what this finds, and is written at the commit, all at once
    # (flushed batch by batch, it was the largest cost of a fleet's many small batches).
    with db.no_autoflush:
        row = await db.scalar(_NODES_SESSION, {"session_id": batch.session_id, "node_id": node_id})
    if row is None:
        raise NotFound(f"no session {batch.session_id} on this node")
    fresh = [event for event in batch.events if event.seq > row.last_seq]
    fresh.sort(key=lambda event: event.seq)
    stored = EventBatch(row.id)
    for event in fresh:
        stored.add(event.seq, event.kind.value, event.payload, event.at)
        if event.kind == SessionEventKind.UPDATE and event.payload.get("sessionUpdate") in (
            "agent_message_chunk",
            "agent_thought_chunk",
        ):
            _note_chunk(row, event.payload)  # most events: no query, no await
        else:
            await _apply(db, row, event.kind, event.payload)
    if fresh:
        row.last_seq = fresh[-1].seq
    await stored.insert(db)
    published = list(stored.published)
    highest = max(event.seq for event in batch.events)
    if fresh and row.state in ENDED_STATES:
        # The agent process is gone (its node ends a session with this event): nothing will
        # answer what it still asked.
        published += (await permissions.cancel_pending_requests(db, row)).published
    # The node's own numbers only: events this control plane added are not the node's to forget.
    return min(row.last_seq, highest), published


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
        permissions.record_request(db, row, payload)
    elif kind == SessionEventKind.PERMISSION_DECISION:
        await permissions.record_decision(db, payload)


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
    published: dict[str, list[LiveEvent]] = {}
    for row in rows:
        if row.id not in running:
            await lifecycle.transition(db, "session", row, SessionState.STOPPED, reason=reason)
            published[row.id] = (await permissions.cancel_pending_requests(db, row)).published
    await db.commit()
    for session_id, events in published.items():
        if events:
            hub.publish(session_id, events)
