"""Routes for GitHub: whether it is set up, making and forgetting the App (the owner), the
caller's linked account, and the repositories they may make projects from. The browser's
redirects through GitHub are pages (`corral.control.githubweb`)."""

from __future__ import annotations

from fastapi import APIRouter

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db, State
from corral.control.github.client import GitHubClient
from corral.control.github.flowstate import seal_state
from corral.control.github.manifest import app_manifest
from corral.control.schemas.github import (
    GitHubAccountPublic,
    GitHubAppPublic,
    GitHubRepository,
    GitHubRepositoryList,
    GitHubStatus,
    ManifestRequest,
    ManifestStart,
)
from corral.control.services import githubaccounts, githubapp, githubrepos, githubsignin, leases
from corral.control.services.users import require_owner
from corral.errors import Conflict

router = APIRouter(prefix=f"{API_PREFIX}/github", tags=["github"])

MANIFEST_STATE_TTL_SECONDS = 600


@router.get("")
async def github_status(user: CurrentUser, db: Db, state: State) -> GitHubStatus:
    """Whether GitHub is set up here, and the caller's linked GitHub account."""
    settings = state.settings.github
    web_url = settings.web_url.rstrip("/")
    app = await githubapp.get_app(db)
    account = await githubaccounts.account_for(db, user.id)
    return GitHubStatus(
        configured=app is not None,
        app=GitHubAppPublic(
            slug=app.slug,
            name=app.name,
            html_url=app.html_url,
            install_url=f"{web_url}/apps/{app.slug}/installations/new",
        )
        if app is not None
        else None,
        oauth=app is not None or bool(settings.client_id and settings.client_secret),
        web_url=web_url,
        account=GitHubAccountPublic(login=account.login, name=account.name)
        if account is not None
        else None,
    )


@router.post("/app/manifest")
async def start_app_manifest(
    body: ManifestRequest, user: CurrentUser, db: Db, state: State
) -> ManifestStart:
    """Start making the GitHub App (owner): post `manifest`, as a JSON string in a form field
    named `manifest`, to `url` from the browser; GitHub then sends it back to Corral."""
    require_owner(user, "make the GitHub App")
    if await githubapp.get_app(db) is not None:
        raise Conflict(
            "this Corral already has a GitHub App; delete it first to make another",
            reason="github_app_exists",
        )
    manifest = app_manifest(state.settings.effective_public_url, await leases.instance_id(db))
    token, _ = seal_state(
        state.secret_box, "manifest", user_id=user.id, ttl_seconds=MANIFEST_STATE_TTL_SECONDS
    )
    async with GitHubClient(state.settings.github) as github:
        url = github.manifest_url(organization=body.organization, state=token)
    return ManifestStart(url=url, manifest=manifest, state=token)


@router.delete("/app", status_code=204)
async def forget_app(user: CurrentUser, db: Db) -> None:
    """Forget the GitHub App (owner); refused while projects use its installations. The App
    stays on GitHub, where its owner may delete it."""
    require_owner(user, "delete the GitHub App")
    await githubapp.forget_app(db, actor_id=user.id)


@router.delete("/account", status_code=204)
async def unlink_account(user: CurrentUser, db: Db) -> None:
    """Unlink the caller's GitHub account (Corral forgets its token)."""
    await githubsignin.unlink(db, user)


@router.get("/repositories")
async def list_repositories(user: CurrentUser, db: Db, state: State) -> GitHubRepositoryList:
    """The repositories the caller can make projects from: those of the App's installations
    their linked GitHub account may use."""
    found = await githubrepos.visible_repositories(
        db, state.secret_box, state.settings.github, user.id
    )
    return GitHubRepositoryList(
        items=[
            GitHubRepository(
                full_name=r.full_name,
                private=r.private,
                default_branch=r.default_branch,
                clone_url=r.clone_url,
                installation_id=r.installation_id,
            )
            for r in found
        ]
    )
