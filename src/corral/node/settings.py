"""The node daemon's settings, from `CORRAL_NODE_*` and command-line flags: one model per area."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import platformdirs
from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from corral.netenv import EnvName
from corral.node.controlurl import control_url_problem
from corral.node.pty import DEFAULT_MAX_PENDING_INPUT_BYTES
from corral.node.workspacefiles import DEFAULT_MAX_READ_BYTES
from corral.protocol.messages import MAX_WINDOW, RuntimeName
from corral.settings import SettingsArea

__all__ = ["NodeDaemonSettings", "SessionSettings", "TerminalSettings"]


def default_node_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("corral-node", appauthor=False))


class TerminalSettings(SettingsArea):
    """The PTY host's terminals (`corral.node.ptyterminals`)."""

    ring_buffer_bytes: int = Field(
        256 * 1024, ge=4096, description="Output kept per terminal for replay."
    )
    max_pending_input_bytes: int = Field(
        DEFAULT_MAX_PENDING_INPUT_BYTES, ge=4096, description="Input waiting for a program."
    )
    viewer_stall_seconds: float = Field(
        30.0, gt=0, description="How long a viewer may hold up the output without credit."
    )
    default_cols: int = Field(80, ge=1, le=MAX_WINDOW, description="Width of a new terminal.")
    default_rows: int = Field(24, ge=1, le=MAX_WINDOW, description="Height of a new terminal.")
    terminate_grace_seconds: float = Field(2.0, ge=0, description="From SIGHUP to SIGKILL.")
    max_per_workspace: int = Field(
        32, ge=1, description="Running terminals a workspace may have at once."
    )
    agent_absent_limit_seconds: float = Field(
        600.0,
        gt=0,
        description="How long the PTY host keeps its terminals with no node daemon connected "
        "(one killed and not restarted); then it ends them and exits.",
    )
    pty_host_idle_seconds: float = Field(
        60.0,
        ge=0,
        description="How long the PTY host may hold no terminal before the daemon stops it "
        "(about 40 MiB back; the next terminal starts it again, in about half a second); "
        "0 keeps it running.",
    )


class SessionSettings(SettingsArea):
    """Agent sessions (`corral.node.acp.session`)."""

    model_config = ConfigDict(frozen=True)

    start_timeout_seconds: float = Field(
        120.0, gt=0, description="How long an agent may take to start and answer its handshake."
    )
    cancel_grace_seconds: float = Field(
        15.0,
        gt=0,
        description="How long a cancelled turn may take to end before the agent "
        "counts as hung and the session fails.",
    )
    max_line_bytes: int = Field(
        8 * 1024 * 1024, ge=64 * 1024, description="The longest ACP message an agent may send."
    )
    exit_grace_seconds: float = Field(
        2.0, gt=0, description="How long to wait for an agent that closed its output to exit."
    )
    max_file_read_bytes: int = Field(
        DEFAULT_MAX_READ_BYTES,
        ge=1024,
        description="The largest workspace file an agent may read through the node (fs/*).",
    )


class NodeDaemonSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CORRAL_NODE_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(
        default_factory=default_node_data_dir,
        description="The node's credential, state and workspaces.",
    )
    control_url: str | None = Field(
        None,
        description="The control plane's URL; remembered after the first join. It must be "
        "https unless it names this machine's loopback or `insecure` is set.",
    )
    insecure: bool = Field(
        False,
        description="Allow an http control URL to another machine, over which the join token "
        "and the node's credential cross the network in clear: only on a network you trust.",
    )
    control_certificate: Path | None = Field(
        None,
        description="A PEM file trusted for the control URL in place of the machine's trust "
        "store: a private CA, or a self-signed certificate; the URL's name is checked as usual "
        "unless `pin_control_certificate`.",
    )
    pin_control_certificate: bool = Field(
        False,
        description="Trust only the first certificate of `control_certificate`, the control "
        "plane's own, whatever names it holds: for a node that reaches its control plane at an "
        "address its certificate does not name, as `corral up`'s local node does at 127.0.0.1.",
    )
    runtimes: list[RuntimeName] = Field(
        default_factory=lambda: ["host", "devcontainer"],
        min_length=1,
        description="The workspace runtimes the node offers (corral.runtimes names). One that "
        "cannot work here (devcontainer without Docker) is reported unavailable, with why.",
    )
    runtime_settings: dict[RuntimeName, dict[str, Any]] = Field(
        default_factory=dict,
        description='Settings of each runtime, by name, e.g. {"host": {"sandbox": "bwrap"}}.',
    )
    allocatable_cpus: float | None = Field(
        None, gt=0, description="CPUs the node offers its workspaces (default: all)."
    )
    allocatable_memory_bytes: int | None = Field(
        None, gt=0, description="Memory the node offers its workspaces (default: all)."
    )
    terminals: TerminalSettings = Field(default_factory=TerminalSettings)
    sessions: SessionSettings = Field(default_factory=SessionSettings)
    agents_dir: Path | None = Field(
        None,
        description="Where agents are installed, shared by every workspace of the node "
        "(default: `agents/` in the data directory).",
    )
    reconnect_min_seconds: float = Field(0.5, gt=0, description="First wait before redialling.")
    reconnect_max_seconds: float = Field(
        4.0,
        gt=0,
        description="Longest wait between dials: a restarted control plane sees its nodes back "
        "within about this long.",
    )
    request_timeout_seconds: float = Field(30.0, gt=0, description="HTTP calls (joining).")
    network_variables: list[EnvName] = Field(
        default_factory=list,
        description="Environment variables to pass to npm, git and workspace processes beyond "
        "the network list (proxies, trust stores, npm_config_*: see corral.netenv). Names "
        "only; never a secret.",
    )
    progress_interval_seconds: float = Field(
        0.25,
        ge=0,
        description="At most one redrawn progress line (a percentage, as git's) per workspace "
        "this often; other lines of a provisioning log (build steps, errors) all go.",
    )

    @model_validator(mode="after")
    def _control_url_is_safe(self) -> NodeDaemonSettings:
        # Here, so that every way of starting a node is refused before it connects anywhere.
        if self.control_url is not None:
            problem = control_url_problem(self.control_url, insecure=self.insecure)
            if problem is not None:
                raise ValueError(problem)
        return self

    @field_validator("runtime_settings", mode="before")
    @classmethod
    def _keyed_by_runtime(cls, value: Any) -> Any:
        if isinstance(value, dict) and not all(isinstance(v, dict) for v in value.values()):
            raise ValueError(
                "runtime_settings holds each runtime's settings under its name, e.g. "
                '{"host": {"sandbox": "bwrap"}}'
            )
        return value
