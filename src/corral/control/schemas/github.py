"""Schemas for GitHub: whether it is set up, the App's manifest, the repositories a user may pick.
No secret (the App's, a user's token) is ever in one."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from corral.control.schemas.common import ANSWER_CONFIG, StrictInput

__all__ = [
    "GitHubAccountPublic",
    "GitHubAppPublic",
    "GitHubRepository",
    "GitHubRepositoryList",
    "GitHubStatus",
    "ManifestRequest",
    "ManifestStart",
]


class GitHubAppPublic(BaseModel):
    model_config = ANSWER_CONFIG

    slug: str
    name: str
    html_url: str
    install_url: str = Field(description="Where to install the App on accounts and repositories.")


class GitHubAccountPublic(BaseModel):
    model_config = ANSWER_CONFIG

    login: str
    name: str | None


class GitHubStatus(BaseModel):
    model_config = ANSWER_CONFIG

    configured: bool = Field(description="This Corral has its GitHub App.")
    app: GitHubAppPublic | None
    oauth: bool = Field(description='"Sign in with GitHub" (and connecting GitHub) is available.')
    web_url: str = Field(description="GitHub's web address (GitHub Enterprise Server's, if so).")
    account: GitHubAccountPublic | None = Field(
        description="The caller's linked GitHub account, if any."
    )


class ManifestRequest(StrictInput):
    organization: str | None = Field(
        None,
        max_length=100,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$",
        description="Make the App owned by this organisation (you must be one of its owners); "
        "unset: by your own GitHub account.",
    )


class ManifestStart(BaseModel):
    model_config = ANSWER_CONFIG

    url: str = Field(description="Post a form here, with the field `manifest`, from the browser.")
    manifest: dict[str, Any] = Field(description="The App's manifest: post it as a JSON string.")
    state: str = Field(description="Also in `url`; GitHub hands it back. Valid ten minutes.")


class GitHubRepository(BaseModel):
    model_config = ANSWER_CONFIG

    full_name: str
    private: bool
    default_branch: str
    clone_url: str
    installation_id: int


class GitHubRepositoryList(BaseModel):
    model_config = ANSWER_CONFIG

    items: list[GitHubRepository]
