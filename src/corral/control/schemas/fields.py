"""Field and parameter types the API shares, with the patterns and lengths it enforces, so the
OpenAPI document states each rule where a client can read it.

The rules have their homes beside the code that relies on them (`corral.gitenv` for branches,
`corral.control.services.names` for names and ids); these types publish and apply them at the
boundary. Patterns that need look-arounds (new names, branches), which pydantic's own pattern
engine lacks, are published in the schema and applied by the same rule's function.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query
from pydantic import AfterValidator, Field

from corral.control.services.idle import MAX_IDLE_TIMEOUT_MINUTES
from corral.control.services.names import (
    CREDENTIAL_NAME_PATTERN,
    ID_PATTERN,
    NAME_PATTERN,
    NEW_NAME_PATTERN,
)
from corral.gitenv import BRANCH_PATTERN, BRANCH_RULES, MAX_BRANCH_CHARS, validate_branch
from corral.protocol.messages import WorkspaceLimits

__all__ = [
    "CPUS",
    "ENV_PATCH",
    "MEMORY_BYTES",
    "PIDS",
    "RUNTIME_CHOICE",
    "AgentName",
    "Branch",
    "CredentialName",
    "CredentialRef",
    "IdleTimeoutMinutes",
    "InviteId",
    "NewName",
    "NodeRef",
    "PermissionRequestId",
    "ProjectRef",
    "ProjectRefQuery",
    "Ref",
    "SessionId",
    "TerminalId",
    "TokenId",
    "UserRef",
    "WorkspaceRef",
    "WorkspaceRefQuery",
]

ENV_PATCH = (
    "A JSON Merge Patch (RFC 7396) of the environment variables: a name with a string value is "
    "set, a name with null is removed, and names left out stay as they are."
)
"""How the `env` of an update is applied (`corral.control.services.projects.patch_env`)."""

# A workspace's limits with the node link's bounds, as fields that default to None (typed Any,
# as `Field()` is, to stand as a field's default).
_LIMITS = WorkspaceLimits.model_fields
CPUS: Any = _LIMITS["cpus"]
MEMORY_BYTES: Any = _LIMITS["memory_bytes"]
PIDS: Any = _LIMITS["pids"]

RUNTIME_CHOICE = Field(
    None,
    pattern=r"^[a-z][a-z0-9_-]{0,31}$",
    description="`host`, `devcontainer` (or another runtime a node offers), or `auto` (also "
    "null): devcontainer where the node has Docker working, else host.",
)
"""A runtime asked for by name, or auto."""

MAX_NAME_CHARS = 64
MAX_CREDENTIAL_NAME_CHARS = 100


def _valid_branch(value: str) -> str:
    if validate_branch(value) is not None:
        raise ValueError(BRANCH_RULES)
    return value


Branch = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_BRANCH_CHARS,
        json_schema_extra={"pattern": BRANCH_PATTERN.pattern},
    ),
    AfterValidator(_valid_branch),
]
"""A git branch name (git check-ref-format's rule)."""

NewName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        json_schema_extra={"pattern": NEW_NAME_PATTERN.pattern},
        description="Lower-case letters, digits, '.', '_' and '-', not shaped like an id.",
    ),
]
"""A name given to something new; the service's `validate_name` says which rule it breaks."""

Ref = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        pattern=NAME_PATTERN.pattern,
        description="An id or a name.",
    ),
]
"""A body field naming an existing object by id or name (every id fits the name pattern)."""


CredentialRef = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_CREDENTIAL_NAME_CHARS,
        pattern=CREDENTIAL_NAME_PATTERN.pattern,
        description="A credential's name or id.",
    ),
]


def _ref_path(what: str) -> object:
    return Path(pattern=NAME_PATTERN.pattern, max_length=MAX_NAME_CHARS, description=what)


def _ref_query(what: str) -> object:
    return Query(pattern=NAME_PATTERN.pattern, max_length=MAX_NAME_CHARS, description=what)


def _id_path(what: str) -> object:
    return Path(pattern=ID_PATTERN.pattern, description=what)


ProjectRef = Annotated[str, _ref_path("A project's id or name.")]
WorkspaceRef = Annotated[str, _ref_path("A workspace's id or name.")]
NodeRef = Annotated[str, _ref_path("A node's id or name.")]
UserRef = Annotated[str, _ref_path("A user's id or name.")]
AgentName = Annotated[str, _ref_path("An agent's name.")]
# Published, and applied by the credentials service, whose message says what a name may hold.
CredentialName = Annotated[
    str,
    Path(
        max_length=MAX_CREDENTIAL_NAME_CHARS,
        json_schema_extra={"pattern": CREDENTIAL_NAME_PATTERN.pattern},
        description="A credential's name (or, to read or delete one, its id).",
        examples=["anthropic"],
    ),
]
SessionId = Annotated[str, _id_path("A session's id.")]
TokenId = Annotated[str, _id_path("An API token's id.")]
InviteId = Annotated[str, _id_path("An invite's id.")]
PermissionRequestId = Annotated[str, _id_path("A permission request's id.")]
# A terminal id as nodes make them; anything else is refused here, before reaching a node.
TerminalId = Annotated[str, Path(pattern=r"^trm_[0-9a-z]{26}$", description="A terminal id.")]
ProjectRefQuery = Annotated[str | None, _ref_query("A project's id or name.")]
WorkspaceRefQuery = Annotated[str | None, _ref_query("A workspace's id or name.")]

IdleTimeoutMinutes = Annotated[
    int,
    Field(
        ge=0,
        le=MAX_IDLE_TIMEOUT_MINUTES,
        description="Minutes a running workspace may sit idle before it is stopped; 0: never.",
    ),
]
"""An idle timeout a project or workspace sets (`corral.control.services.idle`)."""
