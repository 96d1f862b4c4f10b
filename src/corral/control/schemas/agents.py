"""Schemas for the agent catalog and agent settings."""

from __future__ import annotations

from pydantic import BaseModel, Field

from corral.control.schemas.common import StrictInput
from corral.control.schemas.fields import CredentialRef, NewName, Ref
from corral.protocol.sessions import Policy

__all__ = ["AgentAdd", "AgentPublic", "AgentSettingsPublic", "AgentSettingsUpdate"]


class AgentPublic(BaseModel):
    name: str
    title: str
    builtin: bool
    package: str | None = Field(description="The npm package a node installs on first use.")
    version: str | None
    command: list[str]
    credential_kinds: list[str] = Field(description="Credential kinds the agent takes.")
    endpoint: bool = Field(description="Whether an endpoint setting (LLM gateway) applies.")


class AgentAdd(StrictInput):
    name: NewName
    command: list[str] = Field(
        min_length=1, max_length=64, description="The ACP agent's program and its arguments."
    )


class AgentSettingsUpdate(StrictInput):
    project: Ref | None = Field(None, description="Set for this project only (name or id).")
    credential: CredentialRef | None = Field(None, description="A credential's name.")
    model: str | None = Field(None, min_length=1, max_length=200)
    policy: Policy | None = None
    endpoint: str | None = Field(
        None, max_length=2048, description="The model API's base URL (a gateway or proxy)."
    )
    env: dict[str, str] | None = Field(None, description="Variables to set (merged).")
    unset_env: list[str] = Field(default_factory=list, max_length=200)
    args: list[str] | None = Field(None, max_length=64, description="Extra agent arguments.")
    clear: list[str] = Field(
        default_factory=list,
        max_length=6,
        description="Fields to unset: credential, model, policy, endpoint, env, args.",
    )


class AgentSettingsLayer(BaseModel):
    """What one layer (yours, or a project's) sets itself; None where it leaves it to the layer
    below."""

    credential: str | None = None
    model: str | None = None
    policy: Policy | None = None
    endpoint: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    args: list[str] | None = None


class AgentSettingsPublic(BaseModel):
    """The settings a session gets (the layers merged), and what the asked layer sets itself:
    the project's with `?project=`, else yours. An editor shows the rest as inherited."""

    agent: str
    project_id: str | None
    credential: str | None
    model: str | None
    policy: Policy
    endpoint: str | None
    env: dict[str, str]
    args: list[str]
    own: AgentSettingsLayer
