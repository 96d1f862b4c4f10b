"""The node daemon's settings, from `CORRAL_NODE_*` and command-line flags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import platformdirs
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from corral.netenv import EnvName
from corral.node.acp.session import SessionSettings
from corral.node.ptyterminals import TerminalSettings

__all__ = ["NodeDaemonSettings"]


def default_node_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("corral-node", appauthor=False))


class NodeDaemonSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CORRAL_NODE_", env_nested_delimiter="__", extra="forbid"
    )

    data_dir: Path = Field(
        default_factory=default_node_data_dir,
        description="The node's credential, state and workspaces.",
    )
    control_url: str | None = Field(
        None, description="The control plane's URL; remembered after the first join."
    )
    runtime: str = Field("host", description="The workspace runtime (a corral.runtimes name).")
    runtime_settings: dict[str, Any] = Field(
        default_factory=dict, description='Settings of the runtime, e.g. {"sandbox": "bwrap"}.'
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
        0.25, ge=0, description="At most one progress line per workspace this often."
    )
