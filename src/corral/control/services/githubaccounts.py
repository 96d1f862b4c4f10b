"""Users' GitHub identities: linking one to a Corral user, and the user access token kept for
them (sealed), refreshed when GitHub made it expire, to list what they installed the App on."""

from __future__ import annotations

import json
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control import secretbox
from corral.control.db.base import utcnow
from corral.control.db.models import GitHubAccount
from corral.control.github.client import GitHubClient, GitHubUser, UserToken
from corral.control.secretbox import SecretBox
from corral.control.services import githubapp
from corral.errors import Conflict, InvalidInput
from corral.settings import GitHubSettings

__all__ = [
    "account_for",
    "find_by_github_id",
    "link_account",
    "reseal",
    "unlink_account",
    "user_token",
]

# Refresh a little before GitHub's expiry: the token must last through the calls it is for.
_REFRESH_MARGIN = timedelta(minutes=5)


def _associated_data(row: GitHubAccount) -> bytes:
    return f"corral/github-account/v1\0{row.user_id}\0{row.github_id}".encode()


def _seal(box: SecretBox, row: GitHubAccount, token: UserToken) -> None:
    secret = {"access_token": token.access_token, "refresh_token": token.refresh_token}
    row.key_id, row.nonce, row.ciphertext = box.seal(json.dumps(secret), _associated_data(row))
    row.token_expires_at = token.expires_at


async def reseal(db: AsyncSession, old: SecretBox, new: SecretBox) -> None:
    """Seal every linked account's tokens under `new`'s key (the caller commits)."""
    for row in (await db.scalars(select(GitHubAccount))).all():
        secretbox.reseal(row, _associated_data(row), old, new)


async def account_for(db: AsyncSession, user_id: str) -> GitHubAccount | None:
    return await db.get(GitHubAccount, user_id)


async def find_by_github_id(db: AsyncSession, github_id: int) -> GitHubAccount | None:
    return await db.scalar(select(GitHubAccount).where(GitHubAccount.github_id == github_id))


async def link_account(
    db: AsyncSession, box: SecretBox, user_id: str, who: GitHubUser, token: UserToken
) -> GitHubAccount:
    """Link `who` to the user (or refresh the link); a GitHub identity belongs to one user."""
    other = await find_by_github_id(db, who.id)
    if other is not None and other.user_id != user_id:
        raise Conflict(
            f"the GitHub account {who.login} is linked to another Corral user",
            reason="github_account_taken",
        )
    row = await account_for(db, user_id)
    if row is not None and row.github_id != who.id:
        await db.delete(row)
        await db.flush()
        row = None
    if row is None:
        row = GitHubAccount(user_id=user_id, github_id=who.id, login=who.login)
        db.add(row)
    row.login, row.name, row.email = who.login, who.name, who.email
    row.updated_at = utcnow()
    _seal(box, row, token)
    await db.commit()
    return row


async def unlink_account(db: AsyncSession, user_id: str) -> None:
    row = await account_for(db, user_id)
    if row is not None:
        await db.delete(row)
        await db.commit()


async def user_token(
    db: AsyncSession, box: SecretBox, settings: GitHubSettings, user_id: str
) -> str:
    """The user's GitHub access token, refreshed first when it is about to expire."""
    row = await account_for(db, user_id)
    if row is None:
        raise InvalidInput(
            "link your GitHub account first (Settings, GitHub: Connect), so Corral can see "
            "the repositories you installed the App on",
            reason="github_not_linked",
        )
    secret = json.loads(box.open((row.key_id, row.nonce, row.ciphertext), _associated_data(row)))
    if row.token_expires_at is None or row.token_expires_at - _REFRESH_MARGIN > utcnow():
        return str(secret["access_token"])
    if not secret.get("refresh_token"):
        raise InvalidInput(
            "your GitHub sign-in expired: connect GitHub again", reason="github_token_expired"
        )
    client = await githubapp.oauth_client(db, box, settings)
    async with GitHubClient(settings) as github:
        token = await github.refresh_user_token(
            client_id=client.client_id,
            client_secret=client.client_secret,
            refresh_token=secret["refresh_token"],
        )
    _seal(box, row, token)
    await db.commit()
    return token.access_token
