"""Agents' permission requests: listing what waits across a user's sessions, and answering
one through the session's node."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.models import AgentSession, PermissionRequest, PermissionState
from corral.control.nodelink.registry import NodeRegistry
from corral.control.services.pagination import paginate
from corral.control.services.sessions import live_link
from corral.errors import Conflict, InvalidInput, NotFound
from corral.protocol.sessions import PermissionAnswer, SessionAck

__all__ = ["answer_permission", "list_permission_requests"]


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
