"""Accounts: the owner invites people, who join through a single-use invite link; pending
invites can be listed and revoked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.models import LinkPurpose, LoginLink, User, UserRole, UserState
from corral.control.services import activity, auth
from corral.control.services.lookup import find_by_ref
from corral.control.services.names import validate_name
from corral.control.services.pagination import paginate
from corral.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from corral.ids import new_id

__all__ = [
    "RESERVED_USER_NAMES",
    "Invite",
    "get_user",
    "invite_user",
    "list_invites",
    "list_users",
    "require_owner",
    "revoke_invite",
]

RESERVED_USER_NAMES = frozenset({"invites"})
"""Names a user cannot take: they are routes beside `/users/{name}`."""


@dataclass(frozen=True)
class Invite:
    """An invite link (its secret is never kept) and the account it lets someone join."""

    link: LoginLink
    user: User


def require_owner(user: User, action: str) -> None:
    """Refuse `action` (e.g. "add nodes") to anyone but the owner, naming it in the message."""
    if user.role != UserRole.OWNER:
        raise PermissionDenied(f"only the owner can {action}", reason="owner_only")


async def list_users(
    db: AsyncSession, actor: User, *, limit: int, cursor: str | None
) -> tuple[Sequence[User], str | None]:
    require_owner(actor, "list users")
    return await paginate(db, select(User), User.id, limit=limit, cursor=cursor)


async def get_user(db: AsyncSession, actor: User, ref: str, *, action: str) -> User:
    """A user by id or name, for the owner to `action` (the refusal to anyone else names it)."""
    require_owner(actor, action)
    return await find_by_ref(db, User, ref, what="user")


async def invite_user(
    db: AsyncSession, actor: User, name: str, *, ttl_seconds: int
) -> tuple[Invite, str]:
    """Make an invited account and return its invite with the secret token of its link.

    Inviting someone whose invite was never used sends a new link and revokes the old ones, so
    an invite that expired unused does not keep the name forever.
    """
    require_owner(actor, "invite users")
    validate_name(name, "user")
    if name in RESERVED_USER_NAMES:
        raise InvalidInput(
            f"{name!r} is reserved; pick another name", details=[{"field": "body.name"}]
        )
    user = await db.scalar(select(User).where(User.name == name))
    if user is not None and user.state != UserState.INVITED:
        raise Conflict(f"a user named {name!r} exists already", reason="name_taken")
    if user is None:
        user = User(id=new_id("usr"), name=name, role=UserRole.MEMBER, state=UserState.INVITED)
        db.add(user)
        # Stored before the rows that refer to it: with no relationships declared, the order
        # of one flush's inserts is not bound to follow the foreign keys.
        await db.flush()
    else:
        await db.execute(
            update(LoginLink)
            .where(
                LoginLink.user_id == user.id,
                LoginLink.used_at.is_(None),
                LoginLink.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
    activity.record(db, "user.invited", user, user_id=actor.id, actor_id=actor.id)
    link, token = auth.add_login_link(
        db, user, ttl_seconds=ttl_seconds, purpose=LinkPurpose.INVITE, created_by=actor
    )
    await db.commit()
    return Invite(link=link, user=user), token


async def list_invites(
    db: AsyncSession, actor: User, *, limit: int, cursor: str | None
) -> tuple[list[Invite], str | None]:
    """The invites that can still be accepted (not used, revoked or expired), newest first."""
    require_owner(actor, "list invites")
    statement = select(LoginLink).where(
        LoginLink.purpose == LinkPurpose.INVITE,
        LoginLink.used_at.is_(None),
        LoginLink.revoked_at.is_(None),
        LoginLink.expires_at > utcnow(),
    )
    links, next_cursor = await paginate(db, statement, LoginLink.id, limit=limit, cursor=cursor)
    ids = {link.user_id for link in links}
    users = {u.id: u for u in await db.scalars(select(User).where(User.id.in_(ids)))}
    return [Invite(link=link, user=users[link.user_id]) for link in links], next_cursor


async def revoke_invite(db: AsyncSession, actor: User, invite_id: str) -> Invite:
    """Make an invite's link stop working. Revoking one that expired or was revoked already
    changes nothing; one that was accepted cannot be revoked (disable the user instead)."""
    require_owner(actor, "revoke invites")
    link = await db.scalar(
        select(LoginLink).where(LoginLink.id == invite_id, LoginLink.purpose == LinkPurpose.INVITE)
    )
    user = await db.get(User, link.user_id) if link is not None else None
    if link is None or user is None:
        raise NotFound(f"no invite {invite_id!r}")
    if link.used_at is not None:
        raise Conflict(
            f"{user.name} accepted this invite already; disable the user instead "
            f"(`corral users disable {user.name}`)",
            reason="invite_used",
        )
    if link.revoked_at is None:
        link.revoked_at = utcnow()
        activity.record(db, "user.invite_revoked", user, user_id=actor.id, actor_id=actor.id)
        await db.commit()
    return Invite(link=link, user=user)
