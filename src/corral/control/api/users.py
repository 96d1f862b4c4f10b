"""Routes for managing users (owner only): listing them, inviting new ones, and disabling and
enabling members."""

from __future__ import annotations

from fastapi import APIRouter

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db, PageParams, State
from corral.control.schemas.common import Page
from corral.control.schemas.fields import InviteId, UserRef
from corral.control.schemas.users import (
    InviteCreate,
    InviteCreated,
    InvitePublic,
    UserDetail,
    UserPublic,
)
from corral.control.services import accounts, users
from corral.control.urls import login_url

router = APIRouter(prefix=f"{API_PREFIX}/users", tags=["users"])


@router.get("")
async def list_users(user: CurrentUser, db: Db, page: PageParams) -> Page[UserPublic]:
    rows, next_cursor = await users.list_users(db, user, limit=page.limit, cursor=page.cursor)
    return Page(items=[UserPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post("/invites", status_code=201)
async def invite_user(body: InviteCreate, user: CurrentUser, db: Db, state: State) -> InviteCreated:
    ttl = state.settings.auth.invite_ttl_seconds
    invite, token = await users.invite_user(db, user, body.name, ttl_seconds=ttl)
    return InviteCreated(
        **InvitePublic.from_invite(invite).model_dump(),
        invite_url=login_url(state.settings, token),
    )


@router.get("/invites")
async def list_invites(user: CurrentUser, db: Db, page: PageParams) -> Page[InvitePublic]:
    """The invites that can still be accepted: not used, revoked or expired."""
    found, next_cursor = await users.list_invites(db, user, limit=page.limit, cursor=page.cursor)
    return Page(items=[InvitePublic.from_invite(i) for i in found], next_cursor=next_cursor)


@router.delete("/invites/{invite}")
async def revoke_invite(invite: InviteId, user: CurrentUser, db: Db) -> InvitePublic:
    """Revoke an invite: its link no longer signs anyone in."""
    return InvitePublic.from_invite(await users.revoke_invite(db, user, invite))


@router.get("/{user_ref}")
async def get_user(user_ref: UserRef, user: CurrentUser, db: Db) -> UserDetail:
    """A user, with their live agent sessions (where they run, not what they say)."""
    found, live = await accounts.user_detail(db, user, user_ref)
    return UserDetail.of(found, live)


@router.post("/{user_ref}/disable")
async def disable_user(user_ref: UserRef, user: CurrentUser, db: Db, state: State) -> UserDetail:
    """Disable a member: their API tokens, browser sessions and open WebSockets stop working
    at once, and their live agent sessions are stopped (listed in the answer)."""
    found, stopped = await accounts.disable_user(
        db, state.node_registry, state.session_hub, user, user_ref
    )
    state.viewer_sockets.cut_off(found.id, "your account has been disabled")
    return UserDetail.of(found, stopped)


@router.post("/{user_ref}/enable")
async def enable_user(user_ref: UserRef, user: CurrentUser, db: Db) -> UserDetail:
    """Let a disabled member in again: the API tokens and browser sessions they had work
    again."""
    found = await accounts.enable_user(db, user, user_ref)
    return UserDetail.of(found, await accounts.running_sessions(db, found.id))
