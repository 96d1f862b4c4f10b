"""How a node installs and starts a coding agent: the part of the control plane's agent catalog
(`corral.control.catalog`) that travels over the link with every session start. Nodes hold no
catalog of their own, so a node never runs an agent the control plane did not describe."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = [
    "AGENT_NAME_PATTERN",
    "MAX_ARGS",
    "MAX_ARG_CHARS",
    "AcpId",
    "AgentLaunch",
    "AgentName",
    "Arg",
    "NpmPackage",
    "NpmVersion",
    "Quirk",
]

AGENT_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
MAX_ARGS = 64
MAX_ARG_CHARS = 4096

AgentName = Annotated[str, StringConstraints(pattern=AGENT_NAME_PATTERN)]
NpmPackage = Annotated[
    str,
    StringConstraints(max_length=214, pattern=r"^(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*$"),
]
"""An npm package name, scope included (npm's own rule, lower case, at most 214 characters)."""
NpmVersion = Annotated[
    str,
    StringConstraints(max_length=64, pattern=r"^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$"),
]
"""An exact version: what a node installs is pinned, never a range or a tag."""
Arg = Annotated[str, StringConstraints(max_length=MAX_ARG_CHARS, pattern=r"^[^\x00]*$")]
"""One argument of a command: any text but NUL, which no argv can hold."""
AcpId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\s\x00-\x1f\x7f]+$")
]
"""An id the agent defines (a session mode, an auth method): one word of printable text."""


class Quirk(StrEnum):
    """Known deviations of real agents that the session host works around."""

    MISSING_FILE_READS_EMPTY = "missing_file_reads_empty"
    """Answer `fs/read_text_file` of a missing file with empty content: the agent does not
    understand the error (gemini treats it as a failed tool call and gives up)."""


class AgentLaunch(BaseModel):
    """How a node installs and starts one agent. Sent with every session start."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: AgentName
    package: NpmPackage | None = None
    """An npm package the node installs into its shared agent cache; None for a program that
    must already be on the node, somewhere its workspaces' sandbox shows."""
    version: NpmVersion | None = None
    command: list[Arg] = Field(min_length=1, max_length=4 * MAX_ARGS)
    """The program and its fixed arguments. With a package, the program is one of its bins."""
    auth_method: AcpId | None = None
    initial_mode: AcpId | None = None
    sandboxed_args: list[Arg] = Field(default_factory=list, max_length=MAX_ARGS)
    """Added when the workspace runs in Corral's sandbox: for agents whose own sandbox cannot
    start inside another one."""
    quirks: list[Quirk] = Field(default_factory=list)
