"""How a project's repository is reached: anonymously, with the user's `github` token or
`ssh-key`, or with tokens of the GitHub App installation that covers it; and whom commits made in
it are by.

Credentials are handed out per git command, at the moment git needs one: to the control
plane's own `git ls-remote`, to a node that asks (`git.credential`) to clone for one of its
own workspaces (read only), and with a push the control plane asks a node for
(`WorkspacePublish`). An App's token is minted for that one repository, with read access for
a clone and write access for a push (revoked once the push is done), and lives an hour at
most. An SSH key goes with the host key lines the project pinned for its server
(`pin_host_key`): every use checks the server against them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import Credential, CredentialKind, Project, User, Workspace
from corral.control.github.client import GitHubClient
from corral.control.secretbox import SecretBox
from corral.control.services import githubaccounts, githubapp
from corral.control.services.credentials import get_credential, reveal_credential
from corral.control.services.git import trust_host_key
from corral.errors import InvalidInput, NotFound
from corral.gitssh import known_hosts_name, parse_ssh_remote
from corral.protocol.messages import GitCredential, GitCredentialRequest, GitIdentity
from corral.settings import GitHubSettings
from corral.states import WorkspaceState

__all__ = [
    "GITHUB_REPO_PATTERN",
    "RepoAccess",
    "api_token",
    "credential_for",
    "identity_for",
    "node_credential",
    "pin_host_key",
    "resolve_access",
    "uses_ssh_key",
]

GITHUB_REPO_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_PERMISSIONS = {
    "fetch": {"contents": "read", "metadata": "read"},
    "push": {"contents": "write", "metadata": "read"},
    "pull": {"pull_requests": "write", "metadata": "read"},
}


@dataclass(frozen=True)
class RepoAccess:
    repo: str
    credential_id: str | None = None
    github_repo: str | None = None
    installation_id: int | None = None
    ssh: bool = False
    """The credential is an SSH key: the server's host key is to be pinned (`pin_host_key`)."""


async def resolve_access(
    db: AsyncSession,
    box: SecretBox,
    settings: GitHubSettings,
    user_id: str,
    *,
    repo: str | None,
    github: str | None,
    credential: str | None,
) -> RepoAccess:
    """Where a new project's repository is and what reaches it, from what the user gave: a
    repository URL, a GitHub `owner/name`, and the name of a credential to use."""
    row = await _git_credential(db, user_id, credential) if credential else None
    if github is not None:
        if not GITHUB_REPO_PATTERN.match(github):
            raise InvalidInput(
                "a GitHub repository is named owner/name", details=[{"field": "body.github"}]
            )
        if row is not None and row.kind == CredentialKind.SSH_KEY:
            url = f"git@{_github_host(settings)}:{github}.git"
            return RepoAccess(url, credential_id=row.id, github_repo=github, ssh=True)
        if row is not None:
            url = f"{settings.web_url.rstrip('/')}/{github}.git"
            return RepoAccess(url, credential_id=row.id, github_repo=github)
        return await _installed(db, box, settings, user_id, github)
    if repo is None:
        raise InvalidInput(
            "name the repository: `repo` (a URL) or `github` (owner/name)",
            details=[{"field": "body.repo"}],
        )
    if row is None:
        return RepoAccess(repo)
    if row.kind == CredentialKind.SSH_KEY:
        remote = parse_ssh_remote(repo)
        if remote is None:
            raise InvalidInput(
                "an ssh-key credential is used over SSH: give the repository's git@host:path "
                "or ssh://host/path URL",
                reason="credential_needs_ssh",
                details=[{"field": "body.repo"}],
            )
        on_github = None
        if remote.host == _github_host(settings):
            path = remote.path.strip("/").removesuffix(".git")
            on_github = path if GITHUB_REPO_PATTERN.match(path) else None
        return RepoAccess(repo, credential_id=row.id, github_repo=on_github, ssh=True)
    if urlsplit(repo).scheme not in ("https", "http"):
        raise InvalidInput(
            "a github token credential is used over HTTPS: give the repository's https:// URL",
            reason="credential_needs_https",
            details=[{"field": "body.repo"}],
        )
    return RepoAccess(repo, credential_id=row.id, github_repo=_on_github(settings, repo))


async def _git_credential(db: AsyncSession, user_id: str, ref: str) -> Credential:
    try:
        row = await get_credential(db, user_id, ref)
    except NotFound as exc:
        raise InvalidInput(exc.message, details=[{"field": "body.credential"}]) from None
    if row.kind not in (CredentialKind.GITHUB, CredentialKind.SSH_KEY):
        raise InvalidInput(
            f"{row.name} is a {row.kind.value} credential; a repository is reached with a "
            "github credential (a fine-grained personal access token) or an ssh-key",
            reason="wrong_credential_kind",
            details=[{"field": "body.credential"}],
        )
    return row


async def _installed(
    db: AsyncSession, box: SecretBox, settings: GitHubSettings, user_id: str, full_name: str
) -> RepoAccess:
    app = await githubapp.get_app(db)
    if app is None:
        raise InvalidInput(
            "this Corral has no GitHub App yet (the owner makes it in Settings); or give a "
            "github credential with --credential",
            reason="github_not_configured",
            details=[{"field": "body.github"}],
        )
    token = await githubaccounts.user_token(db, box, settings, user_id)
    async with GitHubClient(settings) as github:
        for installation in await github.user_installations(token):
            for found in await github.installation_repositories(token, installation.id):
                if found.full_name.lower() == full_name.lower():
                    return RepoAccess(
                        found.clone_url,
                        github_repo=found.full_name,
                        installation_id=installation.id,
                    )
    install = f"{settings.web_url.rstrip('/')}/apps/{app.slug}/installations/new"
    raise InvalidInput(
        f"the GitHub App is not installed on {full_name}, or your GitHub account cannot see "
        f"it: install it at {install}",
        reason="github_repo_not_installed",
        details=[{"field": "body.github"}],
    )


def _github_host(settings: GitHubSettings) -> str:
    """The host of the configured GitHub's SSH remotes: its web address's (without a port)."""
    return urlsplit(settings.web_url).hostname or "github.com"


async def pin_host_key(
    db: AsyncSession,
    box: SecretBox,
    settings: GitHubSettings,
    project: Project,
    *,
    timeout_seconds: float,
) -> None:
    """Set the host key lines `project`'s SSH remote is checked against from now on: GitHub's
    published keys (`GET /meta`) for the configured GitHub's host, else the key the server
    shows now, reached with the project's key (trust on first use)."""
    remote = parse_ssh_remote(project.repo)
    if remote is None:
        raise InvalidInput("an ssh-key credential is used over SSH", reason="credential_needs_ssh")
    if remote.host == _github_host(settings):
        async with GitHubClient(settings) as github:
            keys = await github.ssh_host_keys()
        name = known_hosts_name(remote.host, remote.port)
        project.ssh_known_hosts = "".join(f"{name} {key}\n" for key in keys)
        return
    row = await _credential_row(db, project)
    project.ssh_known_hosts = await trust_host_key(
        project.repo,
        ssh_key=await reveal_credential(db, box, row),
        timeout_seconds=timeout_seconds,
    )


async def _credential_row(db: AsyncSession, project: Project) -> Credential:
    row = await db.get(Credential, project.git_credential_id) if project.git_credential_id else None
    if row is None or row.user_id != project.user_id:
        raise InvalidInput(
            f"project {project.name}'s git credential was deleted: set another with "
            "`corral project set --credential`",
            reason="git_credential_missing",
        )
    return row


async def uses_ssh_key(db: AsyncSession, project: Project) -> bool:
    """Whether `project` is reached with an `ssh-key` credential."""
    if project.github_installation_id is not None or project.git_credential_id is None:
        return False
    row = await db.get(Credential, project.git_credential_id)
    return row is not None and row.kind == CredentialKind.SSH_KEY


def _on_github(settings: GitHubSettings, repo: str) -> str | None:
    """owner/name when `repo` is a repository on the configured GitHub, else None."""
    web, parts = urlsplit(settings.web_url), urlsplit(repo)
    if parts.netloc.rpartition("@")[2] != web.netloc:
        return None
    path = parts.path.strip("/").removesuffix(".git")
    return path if GITHUB_REPO_PATTERN.match(path) else None


async def credential_for(
    db: AsyncSession,
    box: SecretBox,
    settings: GitHubSettings,
    project: Project,
    purpose: Literal["fetch", "push"],
) -> GitCredential:
    """The credential one git command needs for `project`'s repository (none if it needs none):
    a token, or an SSH key with the host key lines pinned for its server."""
    if project.github_installation_id is None and project.git_credential_id is not None:
        row = await _credential_row(db, project)
        if row.kind == CredentialKind.SSH_KEY:
            return GitCredential(
                ssh_key=await reveal_credential(db, box, row),
                known_hosts=project.ssh_known_hosts or "",
            )
    token = await _token(db, box, settings, project, purpose)
    if token is None:
        return GitCredential()
    parts = urlsplit(project.repo)
    return GitCredential(
        protocol="http" if parts.scheme == "http" else "https",
        host=parts.netloc.rpartition("@")[2],
        username="x-access-token",
        password=token,
    )


async def node_credential(
    db: AsyncSession,
    box: SecretBox,
    settings: GitHubSettings,
    *,
    node_id: str,
    request: GitCredentialRequest,
) -> GitCredential:
    """What a node gets when it asks for a workspace's credential: only for a workspace placed
    on that node, whose project still exists."""
    ws = await db.get(Workspace, request.workspace_id)
    if ws is None or ws.node_id != node_id or ws.state == WorkspaceState.DELETED:
        raise NotFound(f"this node has no workspace {request.workspace_id}")
    project = await db.get(Project, ws.project_id) if ws.project_id else None
    if project is None:
        raise NotFound(f"workspace {ws.name}'s project was deleted")
    return await credential_for(db, box, settings, project, request.purpose)


async def api_token(
    db: AsyncSession, box: SecretBox, settings: GitHubSettings, project: Project
) -> str | None:
    """A token that may open pull requests on the project's repository."""
    return await _token(db, box, settings, project, "pull")


async def _token(
    db: AsyncSession,
    box: SecretBox,
    settings: GitHubSettings,
    project: Project,
    purpose: Literal["fetch", "push", "pull"],
) -> str | None:
    if project.github_installation_id is not None and project.github_repo is not None:
        app = await githubapp.get_app(db)
        if app is None:
            raise InvalidInput(
                "the project uses the GitHub App, which this Corral no longer has",
                reason="github_not_configured",
            )
        async with GitHubClient(settings) as github:
            minted = await github.installation_token(
                githubapp.app_key(box, app),
                project.github_installation_id,
                repository=project.github_repo.partition("/")[2],
                permissions=_PERMISSIONS[purpose],
            )
        return minted.token
    if project.git_credential_id is not None:
        row = await _credential_row(db, project)
        if row.kind == CredentialKind.SSH_KEY:
            return None  # a key, not a token: it opens no pull request
        return await reveal_credential(db, box, row)
    return None


async def identity_for(db: AsyncSession, user: User) -> GitIdentity:
    """Whom commits in the user's workspaces are by: their GitHub name and email (GitHub's
    no-reply address when the email is private), else their Corral name."""
    account = await githubaccounts.account_for(db, user.id)
    if account is None:
        return GitIdentity(name=user.name, email=f"{user.name}@users.noreply.corral.invalid")
    email = account.email or f"{account.github_id}+{account.login}@users.noreply.github.com"
    return GitIdentity(name=_one_line(account.name or account.login), email=_one_line(email))


def _one_line(text: str) -> str:
    return re.sub(r"[\x00-\x1f<>\x7f]", "", text)[:320] or "corral"
