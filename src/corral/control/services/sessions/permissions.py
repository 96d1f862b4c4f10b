"""Agents' permission requests: recorded from a session's events, listed across a user's
sessions, answered through the session's node, and cancelled when their session ends."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.models import AgentSession, PermissionRequest, PermissionState
from corral.control.nodelink.registry import NodeRegistry
from corral.control.services.pagination import paginate
from corral.control.services.sessions.queries import live_link
from corral.control.services.sessions.transcript import EventBatch
from corral.errors import Conflict, InvalidInput, NotFound
from corral.protocol.sessions import PermissionAnswer, SessionAck, SessionEventKind

__all__ = [
    "SESSION_ENDED",
    "answer_permission",
    "cancel_pending_requests",
    "list_permission_requests",
    "record_decision",
    "record_request",
]

SESSION_ENDED = "session ended"
"""What decided a permission request that its session's end cancelled (the `policy` of its
decision; the web app says "the session ended")."""


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
    _, link = await live_link(db, registry, row)
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


def record_request(db: AsyncSession, row: AgentSession, payload: dict[str, Any]) -> None:
    """A `permission_request` event: the request waits for an answer."""
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


async def record_decision(db: AsyncSession, payload: dict[str, Any]) -> None:
    """A `permission_decision` event: the request was answered (by a person, the session's
    policy or the timeout) or cancelled."""
    await db.flush()
    request = await db.get(PermissionRequest, str(payload.get("request_id")))
    if request is not None:
        selected = payload.get("outcome") == "selected"
        request.state = PermissionState.ANSWERED if selected else PermissionState.CANCELLED
        request.option_id = payload.get("option_id")
        request.decided_by = payload.get("by")
        request.policy = payload.get("policy")
        request.decided_at = utcnow()


async def cancel_pending_requests(db: AsyncSession, row: AgentSession) -> EventBatch:
    """Cancel the session's pending permission requests because it ended, each with its
    `permission_decision` event in the transcript (so a chat shows it cancelled, not waiting
    forever). Returns the events, for the caller to publish once it has committed.

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
    batch = EventBatch(row.id)
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
        row.last_seq += 1
        batch.add(row.last_seq, SessionEventKind.PERMISSION_DECISION.value, decision, now)
    await batch.insert(db)
    return batch
