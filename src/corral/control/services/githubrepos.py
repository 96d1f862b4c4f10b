"""The GitHub repositories a user may make projects from: those of the App's installations
their GitHub account can use, as GitHub answers with their user token."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.github.client import GitHubClient
from corral.control.secretbox import SecretBox
from corral.control.services import githubaccounts
from corral.settings import GitHubSettings

__all__ = ["VisibleRepository", "visible_repositories"]


@dataclass(frozen=True)
class VisibleRepository:
    full_name: str
    private: bool
    default_branch: str
    clone_url: str
    installation_id: int


async def visible_repositories(
    db: AsyncSession, box: SecretBox, settings: GitHubSettings, user_id: str
) -> list[VisibleRepository]:
    """Sorted by name; `InvalidInput` (github_not_linked) when the user has not linked GitHub."""
    token = await githubaccounts.user_token(db, box, settings, user_id)
    found: dict[str, VisibleRepository] = {}
    async with GitHubClient(settings) as github:
        for installation in await github.user_installations(token):
            for repo in await github.installation_repositories(token, installation.id):
                found.setdefault(
                    repo.full_name,
                    VisibleRepository(
                        full_name=repo.full_name,
                        private=repo.private,
                        default_branch=repo.default_branch,
                        clone_url=repo.clone_url,
                        installation_id=installation.id,
                    ),
                )
    return sorted(found.values(), key=lambda r: r.full_name.lower())
