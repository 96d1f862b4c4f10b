"""The agent catalog: what each coding agent is, how a node installs and starts it, and which
credentials and endpoint settings it takes.

Built-in agents are data (`builtin.toml`); users add their own ACP agents with entries of the
same shape (`corral agent add`, or `--file` with one entry in builtin.toml's format). Both become
an `AgentSpec`, validated by the same rules, and the control plane sends a node everything it
needs to start one as an `AgentLaunch` (`corral.protocol.agents`).
"""

from __future__ import annotations

import functools
import re
import tomllib
from importlib import resources
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import Field, StringConstraints, model_validator

from corral.protocol.agents import MAX_ARGS, AgentLaunch, Arg
from corral.protocol.base import EnvName

__all__ = [
    "ENDPOINT_PLACEHOLDER",
    "MAX_CREDENTIAL_KINDS",
    "MAX_ENDPOINT_CHARS",
    "MAX_ENDPOINT_VARIABLES",
    "MAX_TITLE_CHARS",
    "AgentSpec",
    "CredentialKindName",
    "Title",
    "builtin_agents",
    "endpoint_problem",
]

MAX_TITLE_CHARS = 200
MAX_ENDPOINT_CHARS = 2048
MAX_ENDPOINT_VARIABLES = 16
MAX_CREDENTIAL_KINDS = 16
ENDPOINT_PLACEHOLDER = "{endpoint}"
"""Replaced by the endpoint's URL in `endpoint_args`."""

CredentialKindName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,31}$")]
"""A credential kind's name; which kinds exist is the control plane's to say."""
Title = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_TITLE_CHARS, pattern=r"^[^\x00-\x1f\x7f]+$"),
]
"""A name for people, on one line."""

_BIN_NAME = re.compile(r"^[A-Za-z0-9@_][A-Za-z0-9._@+-]{0,213}$")
"""A program an npm package installs into `node_modules/.bin`: a bare name, never a path."""


def endpoint_problem(url: str) -> str | None:
    """What is wrong with `url` as an endpoint (an LLM gateway or proxy), or None.

    Keys belong in credentials, which are encrypted and never shown: a URL is stored and shown
    as it is, so one carrying a user name or password is refused.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "the endpoint must be an http or https URL"
    if parts.username or parts.password:
        return "the endpoint must not carry a user name or password; put keys in a credential"
    return None


class AgentSpec(AgentLaunch):
    """A catalog entry: the launch plus what the control plane needs to configure it.

    Built-in and custom entries pass the same checks, field by field and across fields (a
    package needs a version, endpoint arguments need a place for the URL, ...), so an entry a
    user adds is exactly as well-formed as one Corral ships.
    """

    title: Title
    builtin: bool = False
    command: list[Arg] = Field(min_length=1, max_length=MAX_ARGS)
    credentials: dict[CredentialKindName, EnvName] = Field(
        default_factory=dict, max_length=MAX_CREDENTIAL_KINDS
    )
    """Credential kind -> the environment variable that carries it to the agent."""
    endpoint_env: list[EnvName] = Field(default_factory=list, max_length=MAX_ENDPOINT_VARIABLES)
    """Variables set to the endpoint's URL."""
    endpoint_args: list[Arg] = Field(default_factory=list, max_length=MAX_ARGS)
    """Arguments added for an endpoint, `{endpoint}` replaced by its URL."""
    default_endpoint: str | None = Field(None, max_length=MAX_ENDPOINT_CHARS)
    """The endpoint used when the user sets none."""

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        problems = self._problems()
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _problems(self) -> list[str]:
        problems = []
        if (self.package is None) != (self.version is None):
            problems.append(
                "package and version go together: an npm package and the exact version to install"
            )
        program = self.command[0]
        if not program.strip():
            problems.append("the command's first word, its program, is empty")
        elif self.package is not None and not _BIN_NAME.match(program):
            problems.append(
                f"with a package, the command starts with one of its programs (a bin of "
                f"{self.package}, a bare name), not {program!r}"
            )
        if self.endpoint_args and not any(ENDPOINT_PLACEHOLDER in a for a in self.endpoint_args):
            problems.append(f"endpoint_args must hold {ENDPOINT_PLACEHOLDER} where the URL goes")
        if self.default_endpoint is not None:
            if not self.takes_endpoint:
                problems.append(
                    "a default_endpoint needs endpoint_env or endpoint_args to carry it"
                )
            problem = endpoint_problem(self.default_endpoint)
            if problem:
                problems.append(f"default_endpoint: {problem}")
        return problems

    @property
    def takes_endpoint(self) -> bool:
        """Whether the agent can be pointed at an endpoint (a variable or an argument)."""
        return bool(self.endpoint_env or self.endpoint_args)

    def launch(self, *, endpoint: str | None, extra_args: list[str]) -> AgentLaunch:
        """The launch for one session: endpoint arguments and the user's own arguments added."""
        endpoint = endpoint or self.default_endpoint
        args = (
            [a.replace(ENDPOINT_PLACEHOLDER, endpoint) for a in self.endpoint_args]
            if endpoint
            else []
        )
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
    text = resources.files("corral.control.catalog").joinpath("builtin.toml").read_text()
    return {
        name: AgentSpec.model_validate({"name": name, "builtin": True, **entry})
        for name, entry in tomllib.loads(text).items()
    }
