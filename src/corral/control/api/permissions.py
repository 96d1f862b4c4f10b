"""Routes for agents' permission requests, across all of a user's sessions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db, PageParams, State
from corral.control.schemas.common import Page
from corral.control.schemas.fields import PermissionRequestId
from corral.control.schemas.sessions import PermissionAnswerBody, PermissionRequestPublic
from corral.control.services.sessions import permissions

router = APIRouter(prefix=f"{API_PREFIX}/permission-requests", tags=["sessions"])


@router.get("")
async def list_permission_requests(
    user: CurrentUser,
    db: Db,
    page: PageParams,
    all_states: Annotated[
        bool, Query(alias="all", description="Answered ones too, not only pending.")
    ] = False,
) -> Page[PermissionRequestPublic]:
    rows, next_cursor = await permissions.list_permission_requests(
        db, user.id, pending_only=not all_states, limit=page.limit, cursor=page.cursor
    )
    return Page(
        items=[PermissionRequestPublic.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.post("/{request}/answer")
async def answer_permission_request(
    request: PermissionRequestId,
    body: PermissionAnswerBody,
    user: CurrentUser,
    db: Db,
    state: State,
) -> PermissionRequestPublic:
    """Answer with one of the agent's options (`option_id`), or cancel it (no option)."""
    answered = await permissions.answer_permission(
        db, state.node_registry, user.id, request, option_id=body.option_id
    )
    return PermissionRequestPublic.model_validate(answered)
