"""The agent catalog: what each coding agent is, how a node installs and starts it, and which
credentials and endpoint settings it takes.

Built-in agents are data (`builtin.toml`); users add their own ACP agents as commands
(`corral agent add NAME -- COMMAND ARGS...`). Both become an `AgentSpec`, and the control plane
sends a node everything it needs to start one as an `AgentLaunch`: nodes hold no catalog of
their own, so a node never runs an agent the control plane did not describe.
"""

from __future__ import annotations

import functools
import tomllib
from enum import StrEnum
from importlib import resources
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from corral.protocol.base import EnvName

__all__ = [
    "AGENT_NAME_PATTERN",
    "AgentLaunch",
    "AgentSpec",
    "Quirk",
    "builtin_agents",
]

AGENT_NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"
AgentName = Annotated[str, StringConstraints(pattern=AGENT_NAME_PATTERN)]
NpmPackage = Annotated[
    str, StringConstraints(pattern=r"^(@[a-z0-9][a-z0-9._-]*/)?[a-z0-9][a-z0-9._-]*$")
]
NpmVersion = Annotated[
    str, StringConstraints(pattern=r"^[0-9]+\.[0-9]+\.[0-9]+([-+][0-9A-Za-z.-]+)?$")
]
Arg = Annotated[str, StringConstraints(max_length=4096)]


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
    """An npm package the node installs into its shared agent cache; None for a command that
    must already exist on the node (a custom agent)."""
    version: NpmVersion | None = None
    command: list[Arg] = Field(min_length=1, max_length=256)
    """The program and its fixed arguments. With a package, the program is one of its bins."""
    auth_method: str | None = Field(None, max_length=200)
    initial_mode: str | None = Field(None, max_length=200)
    sandboxed_args: list[Arg] = Field(default_factory=list, max_length=64)
    """Added when the workspace runs in Corral's sandbox: for agents whose own sandbox cannot
    start inside another one."""
    quirks: list[Quirk] = Field(default_factory=list)


class AgentSpec(AgentLaunch):
    """A catalog entry: the launch plus what the control plane needs to configure it."""

    title: str = Field(max_length=200)
    builtin: bool = False
    credentials: dict[str, EnvName] = Field(default_factory=dict)
    """Credential kind -> the environment variable that carries it to the agent."""
    endpoint_env: list[EnvName] = Field(default_factory=list)
    endpoint_args: list[Arg] = Field(default_factory=list)
    default_endpoint: str | None = Field(None, max_length=2048)

    def launch(self, *, endpoint: str | None, extra_args: list[str]) -> AgentLaunch:
        """The launch for one session: endpoint arguments and the user's own arguments added."""
        endpoint = endpoint or self.default_endpoint
        args = [a.replace("{endpoint}", endpoint) for a in self.endpoint_args] if endpoint else []
        return AgentLaunch(
            name=self.name,
            package=self.package,
            version=self.version,
            command=[*self.command, *args, *extra_args],
            auth_method=self.auth_method,
            initial_mode=self.initial_mode,
            sandboxed_args=self.sandboxed_args,
            quirks=self.quirks,
        )


@functools.cache
def builtin_agents() -> dict[str, AgentSpec]:
    """The built-in entries, validated once. A broken entry fails loudly at first use."""
    text = resources.files("corral.agents").joinpath("builtin.toml").read_text()
    return {
        name: AgentSpec.model_validate({"name": name, "builtin": True, **entry})
        for name, entry in tomllib.loads(text).items()
    }
