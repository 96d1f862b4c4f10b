"""Accounts: the owner invites people, who join through a single-use invite link."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.models import LinkPurpose, LoginLink, User, UserRole, UserState
from corral.control.services import activity, auth
from corral.control.services.names import validate_name
from corral.control.services.pagination import paginate
from corral.errors import Conflict, PermissionDenied
from corral.ids import new_id

__all__ = ["invite_user", "list_users", "require_owner"]


def require_owner(user: User, action: str) -> None:
    """Refuse `action` (e.g. "add nodes") to anyone but the owner, naming it in the message."""
    if user.role != UserRole.OWNER:
        raise PermissionDenied(f"only the owner can {action}", reason="owner_only")


async def list_users(
    db: AsyncSession, actor: User, *, limit: int, cursor: str | None
) -> tuple[Sequence[User], str | None]:
    require_owner(actor, "list users")
    return await paginate(db, select(User), User.id, limit=limit, cursor=cursor)


async def invite_user(
    db: AsyncSession, actor: User, name: str, *, ttl_seconds: int
) -> tuple[User, str]:
    """Make an invited account and return it with the secret token of its invite link.

    Inviting someone whose invite was never used sends a new link and retires the old ones, so
    an invite that expired unused does not keep the name forever.
    """
    require_owner(actor, "invite users")
    validate_name(name, "user")
    user = await db.scalar(select(User).where(User.name == name))
    if user is not None and user.state != UserState.INVITED:
        raise Conflict(f"a user named {name!r} exists already", reason="name_taken")
    if user is None:
        user = User(id=new_id("usr"), name=name, role=UserRole.MEMBER, state=UserState.INVITED)
        db.add(user)
    else:
        await db.execute(
            update(LoginLink)
            .where(LoginLink.user_id == user.id, LoginLink.used_at.is_(None))
            .values(expires_at=utcnow())
        )
    activity.record(db, "user.invited", user, user_id=actor.id, actor_id=actor.id)
    await db.flush()
    token = await auth.create_login_link(
        db, user, ttl_seconds=ttl_seconds, purpose=LinkPurpose.INVITE, created_by=actor
    )
    return user, token
