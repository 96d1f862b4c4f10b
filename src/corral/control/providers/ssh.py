"""The `ssh` provider: a server the user already has becomes a node, over SSH with their key.

`create_machine` logs in (host keys trusted on first use, see `sshconnection`), looks the
server over (Python 3.11 or newer, root or passwordless sudo, systemd), uploads the node
package of this very control plane (`corral.control.nodepackage`) with the script that does the
work on the server (`ssh_node.sh`), installs it into a virtualenv, writes the node's settings
with its join token to a file only root (or the user) can read, and starts the node: as the
systemd service `corral-node`, or, without systemd, as a process its own supervisor loop
restarts. Running it again installs again and restarts the one service; it never makes a second.

Root, or a user with passwordless sudo, installs into `install_dir` (settings); any other user
into `~/.local/share/corral-node`, where the node runs as that user and offers no devcontainer
runtime (it says so itself). `delete_machine` stops the node and removes all of it.

The server needs no way to reach the control plane's package endpoint: the package comes over
SSH. Its dependencies come from the server's own package index and network settings (its pip
configuration, proxies and trust store), which are also passed on to the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import json
import logging
import shlex
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import asyncssh
import platformdirs

import corral
from corral.control.nodepackage import node_package
from corral.control.providers.base import (
    LABEL_INSTANCE,
    LABEL_NODE,
    LABEL_OWNER,
    Machine,
    MachineRequest,
    Progress,
    Provider,
    ProviderError,
)
from corral.control.providers.sshconnection import SshConnection, load_private_key
from corral.netenv import network_variables
from corral.settings import ProvidersSettings, SshProviderSettings

__all__ = ["SCRIPT_NAME", "USER_INSTALL_DIR", "SshProvider"]

log = logging.getLogger("corral.providers.ssh")

SCRIPT_NAME = "corral-node.sh"
"""The script's name on the server, in the install directory."""
USER_INSTALL_DIR = ".local/share/corral-node"
"""Where a user without root or sudo gets the node, below their home directory."""
MIN_PYTHON = (3, 11)
PROBE_TIMEOUT_SECONDS = 60.0
_OTHER_NODE_STATUS = 3
"""ssh_node.sh's exit status for an install directory that is another node's (or not Corral's)."""


@dataclass(frozen=True)
class _Server:
    """What `ssh_node.sh probe` found, and what follows from it."""

    sudo: bool
    root: bool
    systemd: bool
    install_dir: str
    python: str
    """Its python3's version (`3.11`), or `missing`."""
    venv: bool
    environ: dict[str, str]

    @property
    def service(self) -> str:
        return "systemd" if self.systemd and self.root else "supervised"


class SshProvider(Provider):
    name = "ssh"
    kind = "machine"
    credential_kind = "ssh-key"

    def __init__(
        self,
        settings: SshProviderSettings,
        private_key: asyncssh.SSHKey,
        *,
        package_cache_dir: Path | None = None,
    ) -> None:
        self.settings = settings
        self._key = private_key
        self.package_cache_dir = package_cache_dir or (
            platformdirs.user_cache_path("corral", appauthor=False) / "node-packages"
        )

    @classmethod
    def open(cls, settings: ProvidersSettings, secret: str | None) -> SshProvider:
        if not secret:
            raise ProviderError(
                "the ssh provider needs an SSH key credential (kind ssh-key)",
                retryable=False,
                reason="credential_missing",
            )
        return cls(settings.ssh, load_private_key(secret))

    async def create_machine(self, request: MachineRequest, progress: Progress) -> Machine:
        """Install the node on the server in `request.options` (`host`, `port` (22), `user`
        (root), `known_host_key`) and start it; again on a server that has it already.

        Raises a retryable `ProviderError` when the server cannot be reached or the install
        fails (pip's own errors included), a final one for a refused key, a changed host key,
        a Python older than 3.11, or a server that runs another node."""
        host, port, user = _target(request.options)
        known = request.options.get("known_host_key") or None
        await progress(f"connecting to {user}@{host}:{port}")
        async with await self._connect(host, port, user, known) as ssh, _staging(ssh) as staging:
            await progress(
                f"checking the host key: {ssh.host_key.fingerprint} "
                + ("(the recorded one)" if known else "(trusted on first use)")
            )
            server = await self._probe(ssh, staging)
            _require_python(server, ssh.target)
            try:
                async with asyncio.timeout(self.settings.install_timeout_seconds):
                    service = await self._install(ssh, staging, server, request, progress)
            except TimeoutError:
                raise ProviderError(
                    f"installing the node on {ssh.target} took longer than "
                    f"{self.settings.install_timeout_seconds:g} s",
                    retryable=True,
                    reason="ssh_timeout",
                ) from None
        return Machine(
            id=f"{user}@{host}:{port}",
            name=request.node_name,
            status="running",
            created_at=datetime.now(UTC),
            labels={
                LABEL_INSTANCE: request.instance_id,
                LABEL_NODE: request.node_id,
                LABEL_OWNER: request.owner_id,
            },
            handle={
                "host": host,
                "port": port,
                "user": user,
                "host_key": ssh.host_key.public_key,
                "host_key_fingerprint": ssh.host_key.fingerprint,
                "install_dir": server.install_dir,
                "sudo": server.sudo,
                "service": service,
            },
            public_ipv4=host if _is_ipv4(host) else None,
        )

    async def delete_machine(self, node_id: str, handle: Mapping[str, Any]) -> None:
        """Stop the node and remove its install (service, virtualenv, data) from the server in
        `handle`, whose host key must still be the recorded one. Nothing to do without a
        handle, or when the install is gone or belongs to another node by now."""
        if not handle.get("host"):
            log.info("node %s has no SSH server recorded: nothing to remove", node_id)
            return
        host, port, user = _target(handle)
        known = handle.get("host_key") or None
        async with await self._connect(host, port, user, known) as ssh, _staging(ssh) as staging:
            server = await self._probe(ssh, staging, install_dir=handle.get("install_dir"))
            status, output = await ssh.run(
                ["sh", f"{staging}/{SCRIPT_NAME}", "uninstall", server.install_dir, node_id],
                sudo=server.sudo,
                timeout_seconds=self.settings.install_timeout_seconds,
                what="removing the node",
                accept=(0, _OTHER_NODE_STATUS),
            )
        if status == _OTHER_NODE_STATUS:
            log.warning(
                "not removing %s on %s for node %s: %s",
                server.install_dir,
                ssh.target,
                node_id,
                output.strip(),
            )

    async def list_machines(self, instance_id: str) -> list[Machine]:
        """[]: a server carries no labels the provider could ask for, and the provider keeps no
        list of its own, so the node's handle is the only record of where it installed."""
        return []

    async def _connect(
        self, host: str, port: int, user: str, known_host_key: str | None
    ) -> SshConnection:
        return await SshConnection.open(
            host,
            port,
            user,
            self._key,
            known_host_key=known_host_key,
            timeout_seconds=self.settings.connect_timeout_seconds,
        )

    async def _probe(
        self, ssh: SshConnection, staging: str, *, install_dir: str | None = None
    ) -> _Server:
        _, output = await ssh.run(
            ["sh", f"{staging}/{SCRIPT_NAME}", "probe", staging],
            timeout_seconds=PROBE_TIMEOUT_SECONDS,
            what="looking the server over",
        )
        found = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
        environ: dict[str, str] = {}
        if found.get("python", "missing") != "missing":
            with contextlib.suppress(ProviderError, ValueError, AttributeError):
                raw = json.loads(await ssh.download(f"{staging}/environ.json"))
                environ = {str(k): str(v) for k, v in raw.items()}
        root = found.get("uid") == "0" or found.get("sudo") == "yes"
        if install_dir is None:
            install_dir = (
                self.settings.install_dir if root else f"{found['home']}/{USER_INSTALL_DIR}"
            )
        return _Server(
            sudo=found.get("uid") != "0" and found.get("sudo") == "yes",
            root=root,
            systemd=found.get("systemd") == "yes",
            install_dir=install_dir,
            python=found.get("python", "missing"),
            venv=found.get("venv") == "yes",
            environ=environ,
        )

    async def _install(
        self,
        ssh: SshConnection,
        staging: str,
        server: _Server,
        request: MachineRequest,
        progress: Progress,
    ) -> str:
        if not server.root:
            await progress(
                f"{ssh.target.split('@')[0]} is neither root nor allowed sudo without a "
                f"password: the node runs as that user from {server.install_dir}, without "
                "the devcontainer runtime"
            )
        package = await asyncio.to_thread(node_package, self.package_cache_dir)
        network = network_variables(server.environ) | _own_node_settings(server.environ)
        await progress(f"uploading Corral {corral.__version__}")
        payload = {
            package.name: package.read_bytes(),
            "network.env": _env_file(network).encode(),
            "node.env": _env_file(_node_settings(request, server.install_dir) | network).encode(),
        }
        if request.bootstrap.ca_certificate:
            payload["control-ca.pem"] = request.bootstrap.ca_certificate.encode()
        await ssh.upload(staging, payload)
        script = ["sh", f"{staging}/{SCRIPT_NAME}"]
        await progress(f"installing into {server.install_dir}")
        status, output = await ssh.run(
            [*script, "install", server.install_dir, staging, request.node_id],
            sudo=server.sudo,
            timeout_seconds=self.settings.install_timeout_seconds,
            what="installing the node",
            accept=(0, _OTHER_NODE_STATUS),
        )
        if status == _OTHER_NODE_STATUS:
            other = output.strip().rpartition("=")[2]
            raise ProviderError(
                f"{ssh.target} runs another Corral node already ({other}) in "
                f"{server.install_dir}: remove that node first, or uninstall it on the "
                f"server with `sh {server.install_dir}/{SCRIPT_NAME} uninstall "
                f"{server.install_dir} {other}`",
                retryable=False,
                reason="ssh_other_node",
            )
        await progress(
            "starting the node"
            + (" (systemd service corral-node)" if server.service == "systemd" else "")
        )
        _, output = await ssh.run(
            ["sh", f"{server.install_dir}/{SCRIPT_NAME}", "start", server.install_dir],
            sudo=server.sudo,
            timeout_seconds=PROBE_TIMEOUT_SECONDS,
            what="starting the node",
        )
        return "systemd" if "service=systemd" in output else "supervised"


@contextlib.asynccontextmanager
async def _staging(ssh: SshConnection) -> AsyncIterator[str]:
    """A fresh private directory on the server (mktemp -d, mode 0700) for the files of one
    operation, removed afterwards however it ended."""
    _, output = await ssh.run(
        ["sh", "-c", 'mktemp -d "${TMPDIR:-/tmp}/corral-node.XXXXXXXX"'],
        timeout_seconds=PROBE_TIMEOUT_SECONDS,
        what="making a temporary directory",
    )
    path = output.strip().splitlines()[-1]
    try:
        await ssh.upload(path, {SCRIPT_NAME: _script()})
        yield path
    finally:
        try:
            await ssh.run(
                ["rm", "-rf", path],
                timeout_seconds=PROBE_TIMEOUT_SECONDS,
                what="removing the temporary directory",
            )
        except ProviderError as exc:
            log.warning("%s", exc.message)


def _target(options: Mapping[str, Any]) -> tuple[str, int, str]:
    host = options.get("host")
    port = options.get("port") or 22
    user = options.get("user") or "root"
    if not isinstance(host, str) or not host or host.startswith("-"):
        raise ProviderError(
            "an ssh node needs the server's host", retryable=False, reason="ssh_options"
        )
    if not isinstance(port, int) or not 0 < port < 65536:
        raise ProviderError("the ssh port is 1-65535", retryable=False, reason="ssh_options")
    if not isinstance(user, str) or user.startswith("-"):
        raise ProviderError(f"{user!r} is not a user name", retryable=False, reason="ssh_options")
    return host, port, user


_SET_BY_CORRAL = ("CORRAL_NODE_DATA_DIR", "CORRAL_NODE_CONTROL_URL", "CORRAL_NODE_JOIN_TOKEN")


def _own_node_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The server's own node settings (`CORRAL_NODE_*` in its login environment: allocatable
    CPUs, runtime settings), which a service would not see otherwise; never the ones Corral
    sets itself."""
    return {
        name: value
        for name, value in environ.items()
        if name.startswith("CORRAL_NODE_") and name not in _SET_BY_CORRAL
    }


def _node_settings(request: MachineRequest, install_dir: str) -> dict[str, str]:
    settings = {
        "CORRAL_NODE_DATA_DIR": f"{install_dir}/data",
        "CORRAL_NODE_CONTROL_URL": request.bootstrap.control_url,
        "CORRAL_NODE_JOIN_TOKEN": request.bootstrap.join_token,
    }
    if request.bootstrap.ca_certificate:
        settings["CORRAL_NODE_CONTROL_CERTIFICATE"] = f"{install_dir}/control-ca.pem"
    return settings


def _env_file(variables: Mapping[str, str]) -> str:
    """Variables as the script reads them (`set -a; . FILE`): one quoted assignment a line."""
    return "".join(f"{name}={shlex.quote(value)}\n" for name, value in variables.items())


def _script() -> bytes:
    return files("corral.control.providers").joinpath("ssh_node.sh").read_bytes()


def _require_python(server: _Server, target: str) -> None:
    needs = f"Corral's node needs Python {'.'.join(map(str, MIN_PYTHON))} or newer"
    if server.python == "missing":
        raise ProviderError(
            f"{target} has no python3: {needs} (Debian, Ubuntu: apt-get install python3 "
            "python3-venv)",
            retryable=False,
            reason="ssh_python_missing",
        )
    if _version(server.python) < MIN_PYTHON:
        raise ProviderError(
            f"{target} has Python {server.python}: {needs}",
            retryable=False,
            reason="ssh_python_too_old",
        )
    if not server.venv:
        raise ProviderError(
            f"python3 on {target} cannot make virtual environments: install its venv module "
            "(Debian, Ubuntu: apt-get install python3-venv)",
            retryable=False,
            reason="ssh_python_venv_missing",
        )


def _version(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in text.split("."))
    except ValueError:
        return (0,)


def _is_ipv4(host: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(host), ipaddress.IPv4Address)
    except ValueError:
        return False
