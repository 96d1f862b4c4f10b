"""Running a process in a workspace's container: the `docker exec` command line and its env.

Values of the environment (an agent's credentials) reach the docker client through its own
environment (`-e NAME`), never its arguments, so they are not in `docker inspect` or the node's
process list. Names that would change how the client itself runs (glibc's loader variables,
Go's, Docker's own, and what says where it is: LD_*, DOCKER_*, PATH, HOME, proxies) are given
on its command line instead, so a project's variables cannot change the node's docker client.

A killed `docker exec` client leaves its process running in the container, so each process
carries a random marker in its environment (`ProcessSpec.marker`), by which the node ends it.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from corral.errors import InvalidInput
from corral.node.runtimes._area import DEFAULT_PATH
from corral.node.runtimes.base import ProcessSpec, RuntimeError_, WorkspaceHandle
from corral.node.runtimes.devcontainer.engine import socket_path
from corral.node.runtimes.devcontainer.settings import DevcontainerSettings
from corral.node.runtimes.devcontainer.users import ContainerUser
from corral.processes import PROCESS_MARKER_VARIABLE

__all__ = ["DockerClient", "container_path", "exec_command", "find_docker"]

_CLIENT_NAMES = re.compile(
    r"^(LD_|GO|DOCKER_|XDG_|GCONV_|MALLOC_|LOCPATH$|NLSPATH$|LOCALDOMAIN$|HOSTALIASES$|"
    r"RES_OPTIONS$|RESOLV_|TZDIR$|TMPDIR$|NIS_PATH$|GETCONF_DIR$|PATH$|HOME$|SSL_CERT|"
    r"(HTTPS?|ALL|NO)_PROXY$)",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class DockerClient:
    """How to run the docker client against the node's engine, with a configuration directory
    of the node's own (not the user's ~/.docker)."""

    program: str
    host: str
    config_dir: Path
    cwd: Path


def find_docker(settings: DevcontainerSettings, *, config_dir: Path, cwd: Path) -> DockerClient:
    """The node's Docker engine and client; `RuntimeError_` saying why the runtime cannot
    work here: no engine, no client, or a node that is not root (it gives each checkout to its
    container's user and ends processes inside containers)."""
    host = settings.docker_host or os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    socket = socket_path(host)  # refuses a DOCKER_HOST that is not a unix socket
    if os.geteuid() != 0:
        raise RuntimeError_(
            "the devcontainer runtime needs the node to run as root: it gives each checkout to "
            "its container's user and ends processes inside containers",
            reason="devcontainer_needs_root",
        )
    if not Path(socket).exists():
        raise RuntimeError_(f"Docker is not running here ({socket} does not exist)")
    program = shutil.which(settings.docker_cli)
    if program is None:
        raise RuntimeError_(f"the docker client ({settings.docker_cli}) is not installed")
    return DockerClient(program, host, config_dir, cwd)


def exec_command(
    client: DockerClient,
    container: str,
    user: ContainerUser,
    argv: Sequence[str],
    *,
    directory: Path,
    values: Mapping[str, str],
    tty: bool,
) -> ProcessSpec:
    """`docker exec` of `argv` in `container` as `user`, in `directory`, with `values` as its
    whole environment (the container's own env aside)."""
    marker = secrets.token_hex(16)
    client_env = {"PATH": os.environ.get("PATH", DEFAULT_PATH)}
    flags: list[str] = []
    for name, value in {**values, PROCESS_MARKER_VARIABLE: marker}.items():
        if _CLIENT_NAMES.match(name):
            flags += ["-e", f"{name}={value}"]
        else:
            flags += ["-e", name]
            client_env[name] = value
    full = [
        client.program,
        "--host",
        client.host,
        "--config",
        str(client.config_dir),
        "exec",
        "-i",
        *(["-t"] if tty else []),
        "-u",
        f"{user.uid}:{user.gid}",
        "-w",
        str(directory),
        *flags,
        container,
        *argv,
    ]
    return ProcessSpec(argv=tuple(full), env=client_env, cwd=client.cwd, marker=marker)


def container_path(handle: WorkspaceHandle, cwd: Path) -> Path:
    """`cwd` (relative to the checkout, or absolute in the container) if it is in the checkout
    or the home volume; the container itself is none of the node's business, but a command of an
    agent's starts where the agent may work."""
    path = cwd if cwd.is_absolute() else handle.repo / cwd
    normal = Path(os.path.normpath(path))
    for root in (handle.repo, handle.home):
        if normal == root or root in normal.parents:
            return normal
    raise InvalidInput(f"{cwd} is outside the workspace", reason="path_outside_workspace")
