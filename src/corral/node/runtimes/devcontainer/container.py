"""What a workspace's container is made of: the engine's create request, from a configuration.

Corral decides the container's mounts, network and security options, whatever the configuration
asks: its checkout and home volumes, the node's agent and tool caches read-only, the workspace's
own network, its limits and `no-new-privileges`. What a configuration may not have is refused
here (`refuse_unsafe`); what is ignored is named (`ignored_fields`), for the provisioning log.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corral.node.runtimes._area import DEFAULT_PATH
from corral.node.runtimes.base import ExecResult, Progress, RuntimeError_
from corral.node.runtimes.devcontainer.config import BuildFailed, ResolvedConfig
from corral.protocol.messages import WorkspaceLimits

__all__ = [
    "AGENTS_MOUNT",
    "HOME_MOUNT",
    "LABEL_NODE",
    "LABEL_WORKSPACE",
    "TOOLS_MOUNT",
    "ContainerPlan",
    "container_body",
    "ignored_fields",
    "image_path",
    "refuse_unsafe",
    "resolve_remote_env",
    "run_lifecycle",
]

HOME_MOUNT = "/var/lib/corral"
AGENTS_MOUNT = "/opt/corral/agents"
TOOLS_MOUNT = "/opt/corral/tools"
LABEL_WORKSPACE = "dev.corral.workspace"
LABEL_NODE = "dev.corral.node"
KEEP_RUNNING = "trap 'exit 0' TERM; while sleep 3600 & wait $!; do :; done"
"""The container's command when the configuration overrides the image's (its default)."""
SAFE_CAPABILITIES = frozenset({"SYS_PTRACE"})
"""What a configuration may add (debuggers need it); nothing that reaches past the container."""
_CONTAINER_ENV_REF = re.compile(r"\$\{containerEnv:([A-Za-z_][A-Za-z0-9_]*)(?::([^}]*))?\}")


@dataclass(frozen=True)
class ContainerPlan:
    """Where a workspace's container goes and what it may use."""

    workspace_id: str
    network: str
    folder: str
    """The checkout's mount point, the configuration's workspaceFolder."""
    hostname: str
    labels: dict[str, str]
    limits: WorkspaceLimits
    env: dict[str, str]
    """Variables of every process in it (the node's proxies), under the configuration's own."""
    agents_dir: Path
    tools_dir: Path


def refuse_unsafe(config: ResolvedConfig) -> None:
    """What would let a repository's configuration reach the node or other workspaces."""
    if config.privileged:
        raise BuildFailed(
            f"{config.source} asks for a privileged container, which Corral does not run: "
            "it would control the node"
        )
    unsafe = [
        cap for cap in config.cap_add if cap.upper().removeprefix("CAP_") not in SAFE_CAPABILITIES
    ]
    if unsafe:
        raise BuildFailed(
            f"{config.source} asks for capabilities Corral does not give: {', '.join(unsafe)}"
        )


def ignored_fields(config: ResolvedConfig) -> list[str]:
    fields = (
        ("mounts", config.mounts),
        ("runArgs", config.run_args),
        ("securityOpt", config.security_opt),
    )
    return [name for name, value in fields if value]


def container_body(plan: ContainerPlan, config: ResolvedConfig) -> dict[str, Any]:
    """The engine's `POST /containers/create` body."""
    limits = plan.limits
    host: dict[str, Any] = {
        "NetworkMode": plan.network,
        "Mounts": [
            _volume(f"corral-{plan.workspace_id}-checkout", plan.folder),
            _volume(f"corral-{plan.workspace_id}-home", HOME_MOUNT),
            _bind(plan.agents_dir, AGENTS_MOUNT),
            _bind(plan.tools_dir, TOOLS_MOUNT),
        ],
        "SecurityOpt": ["no-new-privileges"],
        "CapAdd": [cap.upper() for cap in config.cap_add],
        "Init": config.init,
        "RestartPolicy": {"Name": "no"},
    }
    if limits.cpus:
        host["NanoCpus"] = int(limits.cpus * 1e9)
    if limits.memory_bytes:
        host["Memory"] = limits.memory_bytes
        host["MemorySwap"] = limits.memory_bytes  # no swap beyond the limit
    if limits.pids:
        host["PidsLimit"] = limits.pids
    body: dict[str, Any] = {
        "Image": config.image,
        "Hostname": plan.hostname[:63],
        "Env": [f"{k}={v}" for k, v in {**plan.env, **config.container_env}.items()],
        "WorkingDir": plan.folder,
        "Labels": plan.labels,
        "HostConfig": host,
    }
    if config.container_user:
        body["User"] = config.container_user
    if config.override_command:
        body["Entrypoint"] = ["/bin/sh", "-c", KEEP_RUNNING]
        body["Cmd"] = []
    return body


def image_path(image: dict[str, Any], config: ResolvedConfig) -> str:
    """The PATH of the container's processes."""
    return config.container_env.get("PATH") or _image_env(image).get("PATH") or DEFAULT_PATH


def resolve_remote_env(config: ResolvedConfig, image: dict[str, Any]) -> dict[str, str | None]:
    """remoteEnv with `${containerEnv:NAME[:default]}` filled in from the container's env."""
    container_env = {**_image_env(image), **config.container_env}

    def fill(match: re.Match[str]) -> str:
        return container_env.get(match.group(1), match.group(2) or "")

    return {
        name: None if value is None else _CONTAINER_ENV_REF.sub(fill, value)
        for name, value in config.remote_env.items()
    }


def _image_env(image: dict[str, Any]) -> dict[str, str]:
    pairs = [item.partition("=") for item in image.get("Config", {}).get("Env") or []]
    return {key: value for key, _, value in pairs}


def _volume(name: str, target: str) -> dict[str, Any]:
    return {"Type": "volume", "Source": name, "Target": target}


def _bind(source: Path, target: str) -> dict[str, Any]:
    return {"Type": "bind", "Source": str(source), "Target": target, "ReadOnly": True}


async def run_lifecycle(
    run: Callable[[list[str]], Awaitable[ExecResult]],
    name: str,
    commands: Sequence[Any],
    progress: Progress,
) -> None:
    """Run a lifecycle hook's commands (`postCreateCommand`...: a string for the shell, an
    argv, or an object of them) with `run`, their output to `progress`; a failure ends it."""
    for command in commands:
        parts = list(command.values()) if isinstance(command, dict) else [command]
        for part in parts:
            argv = ["/bin/sh", "-c", part] if isinstance(part, str) else [str(a) for a in part]
            progress(f"running {name}: {' '.join(argv)[:300]}")
            result = await run(argv)
            for line in (result.stdout + result.stderr).decode(errors="replace").splitlines():
                if line.strip():
                    progress(line[:4000])
            if result.exit_code != 0:
                raise RuntimeError_(
                    f"{name} failed (exit {result.exit_code}): {' '.join(argv)[:300]}",
                    reason="lifecycle_failed",
                )
