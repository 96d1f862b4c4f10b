"""The devcontainer runtime's settings, under `devcontainer` in the node's runtime settings."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

__all__ = ["DevcontainerSettings"]


class DevcontainerSettings(BaseModel):
    docker_host: str | None = Field(
        None,
        description="The Docker engine (a unix socket URL); default: DOCKER_HOST, else "
        "unix:///var/run/docker.sock.",
    )
    docker_cli: str = Field("docker", description="The docker client, for `docker exec`.")
    docker_netns: str | None = Field(
        None,
        description="The network namespace dockerd runs in (a path such as /run/netns/NAME), "
        "when not the node's own: the firewall rules go there.",
    )
    firewall: bool = Field(
        True,
        description="Refuse connections from workspaces to the node and to link-local "
        "addresses (a cloud's metadata service) with iptables rules.",
    )
    default_image: str = Field(
        "mcr.microsoft.com/devcontainers/base:bookworm",
        description="The image of a workspace whose repository has no devcontainer.json.",
    )
    cli_version: str = Field("0.89.0", description="The @devcontainers/cli version used.")
    tools_dir: Path | None = Field(
        None,
        description="Where the dev container CLI and Node.js are installed (default: `tools/` "
        "in the node's data directory); shown read-only to every container.",
    )
    node_version: str = Field(
        "22.23.5",
        description="The Node.js (npm's node-linux-<arch> build) mounted into containers to "
        "run agents, whatever their image has.",
    )
    cpus: float | None = Field(
        None,
        gt=0,
        description="CPUs of a workspace that asks for none (default: no cap). Placement counts "
        "limits as what a workspace takes, and CPU time is shared fairly anyway, so capping "
        "every workspace by default would fit only a few on a node.",
    )
    memory_bytes: int | None = Field(
        2 * 1024**3, gt=0, description="Memory of a workspace that asks for none."
    )
    pids: int | None = Field(4096, gt=0, description="Processes of a workspace that asks for none.")
    bridge_prefix: str = Field(
        "crl-",
        pattern=r"^[a-z][a-z0-9-]{1,5}$",
        description="Names of the workspaces' bridge interfaces begin with this.",
    )
    clone_timeout_seconds: float = Field(600.0, gt=0, description="How long a clone may take.")
    build_timeout_seconds: float = Field(
        1800.0, gt=0, description="How long reading and building a configuration may take."
    )
    lifecycle_timeout_seconds: float = Field(
        1800.0, gt=0, description="How long each of postCreateCommand and the like may take."
    )
    stop_grace_seconds: int = Field(5, ge=0, description="From SIGTERM to SIGKILL on stop.")
