"""Corral's GitHub App: kept with its secrets sealed, opened only to sign a request or check a
webhook; and the OAuth client sign-in uses (an OAuth app from settings, else the App's own)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control import secretbox
from corral.control.db.models import GitHubApp, Project
from corral.control.github.appauth import AppKey
from corral.control.github.client import AppCredentials
from corral.control.secretbox import SecretBox
from corral.control.services import activity
from corral.errors import Conflict, InvalidInput, NotFound
from corral.ids import new_id
from corral.settings import GitHubSettings

__all__ = [
    "AppSecrets",
    "OAuthClient",
    "app_key",
    "forget_app",
    "get_app",
    "oauth_client",
    "open_secrets",
    "reseal",
    "save_app",
]


@dataclass(frozen=True)
class AppSecrets:
    client_secret: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    private_key: str = field(repr=False)


@dataclass(frozen=True)
class OAuthClient:
    client_id: str
    client_secret: str = field(repr=False)


def _associated_data(row: GitHubApp) -> bytes:
    return f"corral/github-app/v1\0{row.id}\0{row.app_id}".encode()


async def get_app(db: AsyncSession) -> GitHubApp | None:
    return await db.scalar(select(GitHubApp).order_by(GitHubApp.created_at).limit(1))


async def save_app(
    db: AsyncSession, box: SecretBox, made: AppCredentials, *, actor_id: str
) -> GitHubApp:
    """Keep the App GitHub just made from Corral's manifest. One App per Corral: a second one
    would split installations between two apps."""
    if await get_app(db) is not None:
        raise Conflict(
            "this Corral already has a GitHub App; delete it first to make another",
            reason="github_app_exists",
        )
    row = GitHubApp(
        id=new_id("gha"),
        app_id=made.id,
        slug=made.slug,
        name=made.name,
        client_id=made.client_id,
        html_url=made.html_url,
        owner_login=made.owner_login,
    )
    secrets = {
        "client_secret": made.client_secret,
        "webhook_secret": made.webhook_secret,
        "private_key": made.pem,
    }
    row.key_id, row.nonce, row.ciphertext = box.seal(json.dumps(secrets), _associated_data(row))
    db.add(row)
    activity.record(
        db,
        "github.app_created",
        row,
        user_id=actor_id,
        actor_id=actor_id,
        details={"slug": made.slug},
    )
    await db.commit()
    return row


def open_secrets(box: SecretBox, row: GitHubApp) -> AppSecrets:
    data = json.loads(box.open((row.key_id, row.nonce, row.ciphertext), _associated_data(row)))
    return AppSecrets(
        client_secret=data["client_secret"],
        webhook_secret=data["webhook_secret"],
        private_key=data["private_key"],
    )


async def reseal(db: AsyncSession, old: SecretBox, new: SecretBox) -> None:
    """Seal the App's secrets under `new`'s key (the caller commits: `rotate_key`)."""
    for row in (await db.scalars(select(GitHubApp))).all():
        secretbox.reseal(row, _associated_data(row), old, new)


def app_key(box: SecretBox, row: GitHubApp) -> AppKey:
    return AppKey(app_id=row.app_id, private_key=open_secrets(box, row).private_key)


async def oauth_client(db: AsyncSession, box: SecretBox, settings: GitHubSettings) -> OAuthClient:
    """The OAuth client "Sign in with GitHub" uses: the one in settings, else the App's."""
    if settings.client_id and settings.client_secret is not None:
        return OAuthClient(settings.client_id, settings.client_secret.get_secret_value())
    app = await get_app(db)
    if app is None:
        raise InvalidInput(
            "GitHub is not set up here: the owner makes the GitHub App in Settings, or sets "
            "[github] client_id and client_secret",
            reason="github_not_configured",
        )
    return OAuthClient(app.client_id, open_secrets(box, app).client_secret)


async def forget_app(db: AsyncSession, *, actor_id: str) -> None:
    """Forget the App (GitHub keeps it: its owner deletes it there). Refused while a project
    reaches its repository through one of the App's installations."""
    row = await get_app(db)
    if row is None:
        raise NotFound("this Corral has no GitHub App")
    in_use = await db.scalar(
        select(Project.id).where(Project.github_installation_id.is_not(None)).limit(1)
    )
    if in_use is not None:
        raise Conflict(
            "projects reach their repositories through the GitHub App: remove their GitHub "
            "repository first",
            reason="github_app_in_use",
        )
    await db.delete(row)
    activity.record(
        db,
        "github.app_deleted",
        row,
        user_id=actor_id,
        actor_id=actor_id,
        details={"slug": row.slug},
    )
    await db.commit()
