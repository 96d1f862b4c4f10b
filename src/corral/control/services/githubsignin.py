"""Signing in with GitHub: the Corral user a GitHub identity belongs to (a linked account, or a
new member account for someone in an allowed organisation), and linking one to a signed-in user."""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import GitHubAccount, User, UserRole, UserState
from corral.control.github.client import GitHubUser, UserToken
from corral.control.secretbox import SecretBox
from corral.control.services import activity, githubaccounts
from corral.control.services.names import ID_PATTERN, NAME_PATTERN
from corral.control.services.users import RESERVED_USER_NAMES
from corral.errors import Unauthenticated
from corral.ids import new_id

__all__ = ["link", "sign_in", "unlink", "user_name_for"]

_NOT_NAME_CHARS = re.compile(r"[^a-z0-9._-]+")


async def link(
    db: AsyncSession, box: SecretBox, user: User, who: GitHubUser, token: UserToken
) -> GitHubAccount:
    """Link `who` to `user` (keeping their token), recorded in the user's activity."""
    before = await githubaccounts.account_for(db, user.id)
    linked_before = before.github_id if before is not None else None
    row = await githubaccounts.link_account(db, box, user.id, who, token)
    if linked_before != who.id:
        activity.record(
            db,
            "github.linked",
            user,
            user_id=user.id,
            actor_id=user.id,
            details={"login": who.login},
        )
        await db.commit()
    return row


async def unlink(db: AsyncSession, user: User) -> None:
    row = await githubaccounts.account_for(db, user.id)
    if row is None:
        return
    login = row.login
    await githubaccounts.unlink_account(db, user.id)
    activity.record(
        db, "github.unlinked", user, user_id=user.id, actor_id=user.id, details={"login": login}
    )
    await db.commit()


async def sign_in(
    db: AsyncSession,
    box: SecretBox,
    who: GitHubUser,
    token: UserToken,
    *,
    allowed_organizations: list[str],
    organizations: Callable[[], Awaitable[list[str]]],
) -> User:
    """The user `who` signs in as: the one their GitHub account is linked to, else a new member
    when they belong to one of `allowed_organizations` (`organizations` asks GitHub, only then).
    `Unauthenticated` for anyone else, and for a disabled account."""
    account = await githubaccounts.find_by_github_id(db, who.id)
    if account is not None:
        user = await db.get(User, account.user_id)
        if user is None or user.state != UserState.ACTIVE:
            raise Unauthenticated("this account is disabled", reason="user_disabled")
        await githubaccounts.link_account(db, box, user.id, who, token)  # keeps the newer token
    else:
        allowed = {name.lower() for name in allowed_organizations}
        if not allowed or not allowed & {name.lower() for name in await organizations()}:
            raise Unauthenticated(
                f"no Corral account is linked to the GitHub user {who.login}: ask the owner "
                "for an invite, open it, then connect GitHub in Settings",
                reason="github_account_unknown",
            )
        user = User(
            id=new_id("usr"),
            name=await user_name_for(db, who.login),
            role=UserRole.MEMBER,
            state=UserState.ACTIVE,
        )
        db.add(user)
        await db.flush()
        activity.record(
            db,
            "user.created",
            user,
            user_id=user.id,
            actor_id=user.id,
            details={"role": "member", "github": who.login},
        )
        await link(db, box, user, who, token)
    activity.record(
        db,
        "user.signed_in",
        user,
        user_id=user.id,
        actor_id=user.id,
        details={"method": "github", "login": who.login},
    )
    await db.commit()
    return user


async def user_name_for(db: AsyncSession, login: str) -> str:
    """A free user name from a GitHub login, within the rules of `services.names`."""
    base = _NOT_NAME_CHARS.sub("-", login.lower()).lstrip("._-")[:56] or "github-user"
    if ID_PATTERN.match(base) or base in RESERVED_USER_NAMES:
        base = f"gh-{base}"[:56]
    candidates = [base, *(f"{base}-{n}" for n in range(2, 10))]
    taken = set(await db.scalars(select(User.name).where(User.name.in_(candidates))))
    for name in candidates:
        if name not in taken and NAME_PATTERN.match(name):
            return name
    return f"{base}-{secrets.token_hex(3)}"
