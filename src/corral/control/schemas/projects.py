"""Schemas for projects."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, field_validator, model_validator

from corral.control.schemas.common import PublicModel, StrictInput
from corral.control.schemas.fields import (
    CPUS,
    ENV_PATCH,
    MEMORY_BYTES,
    PIDS,
    RUNTIME_CHOICE,
    Branch,
    IdleTimeoutMinutes,
    NewName,
)

__all__ = ["ProjectCreate", "ProjectPublic", "ProjectUpdate"]


class ProjectCreate(StrictInput):
    name: NewName
    repo: str | None = Field(
        None,
        min_length=1,
        max_length=2048,
        description="A git URL, `git@host:path`, or an absolute local path; or give `github`.",
    )
    github: str | None = Field(
        None,
        max_length=200,
        description="A GitHub repository, owner/name: reached through the GitHub App's "
        "installation the caller can see, or with `credential`.",
    )
    credential: str | None = Field(
        None,
        max_length=100,
        description="Name or id of the caller's `github` credential (a personal access token) "
        "that clones and pushes a private repository.",
    )
    default_branch: Branch | None = Field(
        None, description="Branch new workspaces check out; the repository's default when omitted."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Environment variables set in every workspace."
    )
    runtime: str | None = RUNTIME_CHOICE
    cpus: float | None = CPUS
    memory_bytes: int | None = MEMORY_BYTES
    pids: int | None = PIDS
    idle_timeout_minutes: IdleTimeoutMinutes | None = Field(
        None,
        description="Stop its workspaces after this long idle; 0: never; null: the "
        "control plane's default.",
    )


class ProjectUpdate(StrictInput):
    """Fields left out stay as they are; `runtime` and the limits set to null go back to auto
    and to the node's defaults, `idle_timeout_minutes` to the control plane's default."""

    name: NewName | None = None
    default_branch: Branch | None = None
    env: dict[str, str | None] | None = Field(None, description=ENV_PATCH)
    runtime: str | None = RUNTIME_CHOICE
    cpus: float | None = CPUS
    memory_bytes: int | None = MEMORY_BYTES
    pids: int | None = PIDS
    idle_timeout_minutes: IdleTimeoutMinutes | None = Field(
        None,
        description="Stop its workspaces after this long idle; 0: never; null: the "
        "control plane's default again. Left out: unchanged.",
    )


class ProjectPublic(PublicModel):
    id: str
    name: str
    repo: str
    default_branch: str
    env: dict[str, str]
    runtime: str = Field(
        description="What its new workspaces run in: `auto` (devcontainer where the node has "
        "Docker working, else host) or a runtime's name."
    )
    cpus: float | None = Field(description="Each workspace's CPUs; null: the node's default.")
    memory_bytes: int | None = Field(description="Each workspace's memory; null: the default.")
    pids: int | None = Field(description="Each workspace's processes; null: the default.")
    idle_timeout_minutes: int | None = Field(
        description="How long its workspaces may sit idle before they stop; 0: never; null: "
        "the control plane's default."
    )
    github_repo: str | None = Field(
        description="owner/name when the repository is on the configured GitHub."
    )
    git_access: str = Field(
        description="How its repository is reached: `github_app`, `credential` or `anonymous`."
    )
    ssh_known_hosts: str | None = Field(
        None,
        description="With an ssh-key credential: the known_hosts lines of the host key its "
        "server must show (GitHub's published keys, or what the server showed when the project "
        "was added). Public keys, not secrets.",
    )
    created_at: datetime
    updated_at: datetime

    @model_validator(mode="before")
    @classmethod
    def _access(cls, value: Any) -> Any:
        if isinstance(value, dict) or hasattr(value, "git_access"):
            return value
        access = (
            "github_app"
            if getattr(value, "github_installation_id", None) is not None
            else "credential"
            if getattr(value, "git_credential_id", None) is not None
            else "anonymous"
        )
        return {
            **{k: getattr(value, k) for k in cls.model_fields if hasattr(value, k)},
            "git_access": access,
        }

    @field_validator("runtime", mode="before")
    @classmethod
    def _auto(cls, value: str | None) -> str:
        return value or "auto"
