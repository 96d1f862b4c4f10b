"""Signing in: the owner account, one-time login links, browser sessions and API tokens."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.models import (
    ApiToken,
    LinkPurpose,
    LoginLink,
    User,
    UserRole,
    UserState,
    WebSession,
)
from corral.control.services import activity
from corral.control.services.pagination import paginate
from corral.control.services.tokens import hash_token, new_token, redeem_single_use
from corral.errors import InvalidInput, NotFound, Unauthenticated
from corral.ids import new_id

__all__ = [
    "API_TOKEN_PREFIX",
    "LOGIN_LINK_PREFIX",
    "NewWebSession",
    "active_user",
    "add_login_link",
    "authenticate_api_token",
    "authenticate_web_session",
    "create_api_token",
    "create_login_link",
    "create_web_session",
    "end_web_session",
    "ensure_owner",
    "list_api_tokens",
    "redeem_login_link",
    "revoke_api_token",
]

API_TOKEN_PREFIX = "crl"  # noqa: S105 (a prefix, not a secret)
LOGIN_LINK_PREFIX = "crllink"
SESSION_PREFIX = "crlsess"


async def ensure_owner(db: AsyncSession, name: str) -> tuple[User, bool]:
    """Return the owner, making the account on first start; the bool says whether it was made."""
    owner = await db.scalar(select(User).where(User.role == UserRole.OWNER).limit(1))
    if owner is not None:
        return owner, False
    owner = User(id=new_id("usr"), name=name, role=UserRole.OWNER, state=UserState.ACTIVE)
    db.add(owner)
    await db.flush()
    activity.record(
        db, "user.created", owner, user_id=owner.id, actor_id=None, details={"role": "owner"}
    )
    await db.commit()
    return owner, True


async def get_owner(db: AsyncSession) -> User:
    owner = await db.scalar(select(User).where(User.role == UserRole.OWNER).limit(1))
    if owner is None:
        raise NotFound("there is no owner yet: start the control plane once with `corral up`")
    return owner


def add_login_link(
    db: AsyncSession,
    user: User,
    *,
    ttl_seconds: int,
    purpose: LinkPurpose = LinkPurpose.LOGIN,
    created_by: User | None = None,
) -> tuple[LoginLink, str]:
    """Add a new single-use link for `user` to the transaction; return it with its secret
    token (shown once). The caller commits."""
    token = new_token(LOGIN_LINK_PREFIX)
    link = LoginLink(
        id=new_id("lnk"),
        user_id=user.id,
        token_hash=hash_token(token),
        purpose=purpose,
        created_by_id=created_by.id if created_by else None,
        expires_at=utcnow() + timedelta(seconds=ttl_seconds),
    )
    db.add(link)
    return link, token


async def create_login_link(
    db: AsyncSession,
    user: User,
    *,
    ttl_seconds: int,
    purpose: LinkPurpose = LinkPurpose.LOGIN,
    created_by: User | None = None,
) -> str:
    """Store a new single-use link for `user` and return its secret token (shown once)."""
    _, token = add_login_link(
        db, user, ttl_seconds=ttl_seconds, purpose=purpose, created_by=created_by
    )
    await db.commit()
    return token


async def redeem_login_link(db: AsyncSession, token: str) -> User:
    """Use up a login link and return its user; raise `Unauthenticated` saying what is wrong."""
    link = await redeem_single_use(
        db,
        LoginLink,
        token,
        what="login link",
        reason="link",
        remedy="ask for a new one with `corral auth link`",
    )
    user = await db.get(User, link.user_id)
    if user is None or user.state == UserState.DISABLED:
        await db.commit()
        raise Unauthenticated("this account is disabled", reason="user_disabled")
    activity.record(
        db,
        "user.signed_in",
        user,
        user_id=user.id,
        actor_id=user.id,
        details={"link": link.purpose.value},
    )
    if user.state == UserState.INVITED:
        user.state = UserState.ACTIVE
        activity.record(db, "user.joined", user, user_id=user.id, actor_id=user.id)
    await db.commit()
    return user


@dataclass(frozen=True)
class NewWebSession:
    token: str
    csrf_token: str
    ttl_seconds: int


async def create_web_session(db: AsyncSession, user: User, *, ttl_seconds: int) -> NewWebSession:
    token = new_token(SESSION_PREFIX)
    csrf_token = secrets.token_urlsafe(32)
    db.add(
        WebSession(
            id=new_id("wss"),
            user_id=user.id,
            token_hash=hash_token(token),
            csrf_token=csrf_token,
            expires_at=utcnow() + timedelta(seconds=ttl_seconds),
        )
    )
    await db.commit()
    return NewWebSession(token=token, csrf_token=csrf_token, ttl_seconds=ttl_seconds)


async def authenticate_web_session(db: AsyncSession, token: str) -> tuple[User, WebSession]:
    session = await db.scalar(select(WebSession).where(WebSession.token_hash == hash_token(token)))
    if session is None or session.revoked_at is not None:
        raise Unauthenticated("your session has ended; sign in again", reason="session_invalid")
    if session.expires_at <= utcnow():
        raise Unauthenticated("your session has expired; sign in again", reason="session_expired")
    user = await active_user(db, session.user_id)
    return user, session


async def end_web_session(db: AsyncSession, session: WebSession) -> None:
    session.revoked_at = utcnow()
    await db.commit()


async def authenticate_api_token(db: AsyncSession, token: str) -> tuple[User, ApiToken]:
    # One query for token and user: this runs on every API request.
    found = (
        await db.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == hash_token(token))
        )
    ).one_or_none()
    if found is None:
        raise Unauthenticated("the API token is not valid", reason="token_invalid")
    row, user = found
    if row.revoked_at is not None:
        raise Unauthenticated("the API token has been revoked", reason="token_revoked")
    if user.state != UserState.ACTIVE:
        raise Unauthenticated("this account is disabled", reason="user_disabled")
    now = utcnow()
    # Writing on every request would serialise readers on SQLite; a minute's precision is plenty.
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        row.last_used_at = now
        await db.commit()
    return user, row


async def active_user(db: AsyncSession, user_id: str) -> User:
    """The user, if they may still act; `Unauthenticated` if they were disabled (or removed)."""
    user = await db.get(User, user_id)
    if user is None or user.state != UserState.ACTIVE:
        raise Unauthenticated("this account is disabled", reason="user_disabled")
    return user


async def create_api_token(db: AsyncSession, user: User, name: str) -> tuple[ApiToken, str]:
    """Make a token for `user`; the secret is returned here once and never again."""
    name = name.strip()
    if not name:
        raise InvalidInput("a token needs a name", details=[{"field": "body.name"}])
    secret = new_token(API_TOKEN_PREFIX)
    row = ApiToken(
        id=new_id("tok"),
        user_id=user.id,
        name=name,
        token_hash=hash_token(secret),
        last4=secret[-4:],
    )
    db.add(row)
    activity.record(db, "token.created", row, user_id=user.id, actor_id=user.id)
    await db.commit()
    return row, secret


async def list_api_tokens(
    db: AsyncSession, user: User, *, limit: int, cursor: str | None
) -> tuple[Sequence[ApiToken], str | None]:
    statement = select(ApiToken).where(ApiToken.user_id == user.id)
    return await paginate(db, statement, ApiToken.id, limit=limit, cursor=cursor)


async def revoke_api_token(db: AsyncSession, user: User, token_id: str) -> ApiToken:
    row = await db.scalar(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.id == token_id)
    )
    if row is None:
        raise NotFound(f"no token with id {token_id!r}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        activity.record(db, "token.revoked", row, user_id=user.id, actor_id=user.id)
        await db.commit()
    return row


async def count_users(db: AsyncSession) -> int:
    return int(await db.scalar(select(func.count()).select_from(User)) or 0)
