"""Schemas for the agent catalog and agent settings."""

from __future__ import annotations

from pydantic import BaseModel, Field

from corral.control.catalog import (
    MAX_CREDENTIAL_KINDS,
    MAX_ENDPOINT_CHARS,
    MAX_ENDPOINT_VARIABLES,
    Title,
)
from corral.control.db.models import CredentialKind
from corral.control.schemas.common import ANSWER_CONFIG, StrictInput
from corral.control.schemas.fields import ENV_PATCH, CredentialRef, NewName, Ref
from corral.netenv import EnvName
from corral.protocol.agents import MAX_ARGS, AcpId, Arg, NpmPackage, NpmVersion, Quirk
from corral.protocol.sessions import Policy

__all__ = [
    "AgentAdd",
    "AgentEntry",
    "AgentPublic",
    "AgentSettingsLayer",
    "AgentSettingsPublic",
    "AgentSettingsUpdate",
]


class AgentPublic(BaseModel):
    """An agent: its catalog entry (built in, or one of yours)."""

    name: str
    title: str
    builtin: bool
    package: str | None = Field(description="The npm package a node installs on first use.")
    version: str | None
    command: list[str] = Field(
        description="The program and its fixed arguments; with a package, the program is one "
        "of the package's bins."
    )
    credentials: dict[str, str] = Field(
        description="Credential kind -> the environment variable that carries it."
    )
    credential_kinds: list[str] = Field(description="Credential kinds the agent takes.")
    endpoint: bool = Field(description="Whether an endpoint setting (LLM gateway) applies.")
    endpoint_env: list[str] = Field(description="Variables set to the endpoint's URL.")
    endpoint_args: list[str] = Field(
        description="Arguments added for an endpoint, {endpoint} replaced by its URL."
    )
    default_endpoint: str | None = Field(description="The endpoint when none is set.")
    initial_mode: str | None = Field(description="The ACP session mode set at the start.")
    auth_method: str | None = Field(description="The ACP authenticate method called.")
    sandboxed_args: list[str] = Field(
        description="Arguments added when the workspace runs in Corral's sandbox."
    )
    quirks: list[str] = Field(description="Deviations the node works around.")


class AgentEntry(StrictInput):
    """An agent's catalog entry, in the shape of the built-in catalog's entries (builtin.toml),
    checked by the same rules: the fields below one by one, then together (a package needs a
    version; with a package the command's program is one of its bins; endpoint_args hold
    {endpoint}; a default_endpoint needs endpoint_env or endpoint_args)."""

    command: list[Arg] = Field(
        min_length=1,
        max_length=MAX_ARGS,
        description="The ACP agent's program and its fixed arguments. With a package, the "
        "program is one of its bins; without one, a program on the node that its workspaces' "
        "sandbox shows (under /usr, say).",
    )
    title: Title | None = Field(None, description="A name for people; the agent's name if unset.")
    package: NpmPackage | None = Field(
        None, description="An npm package the node installs into its agent cache on first use."
    )
    version: NpmVersion | None = Field(None, description="The package's exact version.")
    credentials: dict[CredentialKind, EnvName] = Field(
        default_factory=dict,
        max_length=MAX_CREDENTIAL_KINDS,
        description="Credential kind -> the environment variable that carries it to the agent "
        "(an `env` credential needs none: its name is the variable).",
    )
    endpoint_env: list[EnvName] = Field(
        default_factory=list,
        max_length=MAX_ENDPOINT_VARIABLES,
        description="Variables set to the endpoint's URL (an LLM gateway or proxy).",
    )
    endpoint_args: list[Arg] = Field(
        default_factory=list,
        max_length=MAX_ARGS,
        description="Arguments added for an endpoint; {endpoint} is replaced by its URL.",
    )
    default_endpoint: str | None = Field(
        None,
        max_length=MAX_ENDPOINT_CHARS,
        description="An http or https URL used when the user sets no endpoint.",
    )
    initial_mode: AcpId | None = Field(
        None, description="An ACP session mode set right after session/new."
    )
    auth_method: AcpId | None = Field(
        None, description="The ACP authenticate method to call at the start."
    )
    sandboxed_args: list[Arg] = Field(
        default_factory=list,
        max_length=MAX_ARGS,
        description="Arguments added when the workspace runs in Corral's sandbox.",
    )
    quirks: list[Quirk] = Field(
        default_factory=list, max_length=len(Quirk), description="Deviations to work around."
    )


class AgentAdd(AgentEntry):
    name: NewName


class AgentSettingsUpdate(StrictInput):
    project: Ref | None = Field(None, description="Set for this project only (name or id).")
    credential: CredentialRef | None = Field(None, description="A credential's name.")
    model: str | None = Field(None, min_length=1, max_length=200)
    policy: Policy | None = None
    endpoint: str | None = Field(
        None, max_length=2048, description="The model API's base URL (a gateway or proxy)."
    )
    env: dict[str, str | None] | None = Field(None, description=ENV_PATCH)
    args: list[str] | None = Field(None, max_length=64, description="Extra agent arguments.")
    clear: list[str] = Field(
        default_factory=list,
        max_length=6,
        description="Fields to unset: credential, model, policy, endpoint, env, args.",
    )


class AgentSettingsLayer(BaseModel):
    """What one layer (yours, or a project's) sets itself; None where it leaves it to the layer
    below."""

    model_config = ANSWER_CONFIG

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
