"""Routes for managing users: listing them and inviting new ones (owner only)."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db, PageParams, State
from corral.control.db.base import utcnow
from corral.control.schemas.common import Page
from corral.control.schemas.users import InviteCreate, InviteCreated, UserPublic
from corral.control.services import users
from corral.control.urls import login_url

router = APIRouter(prefix=f"{API_PREFIX}/users", tags=["users"])


@router.get("")
async def list_users(user: CurrentUser, db: Db, page: PageParams) -> Page[UserPublic]:
    rows, next_cursor = await users.list_users(db, user, limit=page.limit, cursor=page.cursor)
    return Page(items=[UserPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post("/invites", status_code=201)
async def invite_user(body: InviteCreate, user: CurrentUser, db: Db, state: State) -> InviteCreated:
    ttl = state.settings.auth.invite_ttl_seconds
    invited, token = await users.invite_user(db, user, body.name, ttl_seconds=ttl)
    return InviteCreated(
        user=UserPublic.model_validate(invited),
        invite_url=login_url(state.settings, token),
        expires_at=utcnow() + timedelta(seconds=ttl),
    )
