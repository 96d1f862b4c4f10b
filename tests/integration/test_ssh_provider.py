"""The SSH provider against a real OpenSSH server on 127.0.0.1: it installs a real node daemon
that joins a real control plane, trusts the host key on first use and refuses a changed one,
and removes all it installed.

Installing takes a while (a virtualenv and Corral's dependencies from the machine's package
index, through its pip cache), so the module installs once and its tests look at that install
in order; the last one removes it. Wherever a test stops, the module's fixture stops what the
install started, by the PIDs it recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncssh
import pytest

import corral
from corral.control.providers.base import (
    LABEL_NODE,
    Machine,
    MachineRequest,
    NodeBootstrap,
    ProviderError,
)
from corral.control.providers.ssh import SshProvider
from corral.control.providers.sshconnection import load_private_key
from corral.settings import SshProviderSettings
from tests.support.nodes import Api, exchange, tail
from tests.support.processes import CorralServer, all_pids, cmdline, corral_env, running
from tests.support.processes import corral_server as start_corral_server
from tests.support.sshd import SshKeyPair, SshServer, make_key_pair
from tests.support.waits import eventually_sync

NODE_NAME = "by-ssh"
READY_SECONDS = 60.0
STOP_SECONDS = 15.0
STEPS = ["connecting", "checking the host key", "uploading Corral", "installing", "starting"]


@dataclass
class Installed:
    server: CorralServer
    api: Api
    provider: SshProvider
    request: MachineRequest
    install_dir: Path
    steps: list[str] = field(default_factory=list)
    made: Machine | None = None

    @property
    def machine(self) -> Machine:
        assert self.made is not None, "the machine was not made"
        return self.made

    install_seconds: float = 0.0

    @property
    def data_dir(self) -> Path:
        return self.install_dir / "data"

    def node(self) -> dict[str, Any]:
        nodes = self.api.get("/nodes")["items"]
        return next(n for n in nodes if n["name"] == NODE_NAME)

    def context(self) -> str:
        log = self.install_dir / "node.log"
        node_log = log.read_text(errors="replace") if log.exists() else "(no node.log)"
        return f"--- node.log:\n{tail(node_log)}\n--- control plane:\n{tail(self.server.stderr())}"

    def wait_node(self, ready: bool) -> dict[str, Any]:
        """The node once it is ready and linked, or once it is unlinked."""

        def check() -> dict[str, Any] | None:
            node = self.node()
            linked = node["state"] == "ready" and node["connected"]
            return node if linked == ready and node["connected"] == ready else None

        what = f"node {NODE_NAME} {'ready and linked' if ready else 'unlinked'}"
        return eventually_sync(check, what, wait_seconds=READY_SECONDS, context=self.context)

    def supervisor_pid(self) -> int:
        return int((self.install_dir / "supervisor.pid").read_text())

    def daemon_pid(self) -> int:
        """The node daemon's PID, as it writes it into its lock file."""
        return int((self.data_dir / "agent.lock").read_text().split()[0])

    def node_pids(self) -> list[int]:
        """Every process of this install: its supervisor, daemon and PTY host."""
        marks = (f"supervise {self.install_dir}", f"--data-dir {self.data_dir}")
        return [pid for pid in all_pids() if any(m in cmdline(pid) for m in marks)]


def request_for(
    sshd: SshServer, node_id: str, token: str, control_url: str, **options: Any
) -> MachineRequest:
    return MachineRequest(
        node_id=node_id,
        node_name=NODE_NAME,
        owner_id="owner",
        instance_id="test-instance",
        bootstrap=NodeBootstrap(
            control_url=control_url,
            join_token=token,
            node_version=corral.__version__,
            package_url=f"{control_url}/api/v1/nodes/package",
            progress_url=f"{control_url}/api/v1/nodes/bootstrap",
        ),
        options={"host": sshd.host, "port": sshd.port, "user": sshd.user, **options},
    )


def provider_with(key: SshKeyPair, install_dir: Path, cache: Path) -> SshProvider:
    settings = SshProviderSettings(install_dir=str(install_dir), connect_timeout_seconds=10)
    return SshProvider(settings, load_private_key(key.private_key), package_cache_dir=cache)


def stop_leftovers(pids: list[int]) -> None:
    """SIGKILL by PID what a failed test left running of the install."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def installed(
    sshd: SshServer, ssh_client_key: SshKeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Installed]:
    base = tmp_path_factory.mktemp("ssh-provider")
    env = corral_env(base / "server-home")
    with start_corral_server(base / "data", env) as server:
        assert server.link is not None
        api = Api(server.url, exchange(server.url, server.link))
        created = api.post("/nodes", {"name": NODE_NAME})
        install_dir = base / "opt-corral"
        provider = provider_with(ssh_client_key, install_dir, base / "packages")
        request = request_for(sshd, created["node"]["id"], created["join_token"], server.url)
        steps: list[str] = []

        async def record(step: str) -> None:
            steps.append(step)

        site = Installed(server, api, provider, request, install_dir, steps)
        started = time.monotonic()
        try:
            site.made = asyncio.run(provider.create_machine(request, record))
            site.install_seconds = time.monotonic() - started
            yield site
        finally:
            leftovers = site.node_pids()
            if install_dir.exists():
                # Made or half-made: what the test knows of it.
                handle = site.made.handle if site.made else {**request.options}
                handle = {**handle, "install_dir": str(install_dir)}
                with contextlib.suppress(ProviderError):
                    asyncio.run(provider.delete_machine(request.node_id, handle))
            stop_leftovers([pid for pid in leftovers if running(pid)])
            api.close()


def test_the_node_installed_over_ssh_joins_and_becomes_ready(
    installed: Installed, sshd: SshServer
) -> None:
    node = installed.wait_node(ready=True)
    assert node["id"] == installed.request.node_id
    shown = [next(p for p in STEPS if s.startswith(p)) for s in installed.steps if shows(s)]
    assert shown == STEPS, installed.steps
    # The package is this control plane's own version.
    assert node["version"] == corral.__version__, node
    handle = installed.machine.handle
    assert handle["host_key"] == sshd.host_public_key
    fingerprint = asyncssh.import_public_key(sshd.host_public_key).get_fingerprint("sha256")
    assert handle["host_key_fingerprint"] == fingerprint
    assert {k: handle[k] for k in ("host", "port", "user", "install_dir", "service")} == {
        "host": sshd.host,
        "port": sshd.port,
        "user": sshd.user,
        "install_dir": str(installed.install_dir),
        "service": "supervised",  # no systemd on the test machines
    }
    assert installed.machine.labels[LABEL_NODE] == installed.request.node_id
    print(f"installed in {installed.install_seconds:.1f} s")


def test_the_join_token_is_forgotten_and_never_on_a_command_line(installed: Installed) -> None:
    installed.wait_node(ready=True)
    env_file = installed.install_dir / "node.env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    eventually_sync(
        lambda: "CORRAL_NODE_JOIN_TOKEN" not in env_file.read_text(),
        "the join token gone from node.env once the node joined",
        context=installed.context,
    )
    token = installed.request.bootstrap.join_token
    assert not [pid for pid in all_pids() if token in cmdline(pid)]
    assert stat.S_IMODE((installed.data_dir / "node.json").stat().st_mode) == 0o600


def test_creating_again_with_the_recorded_key_restarts_the_one_node(
    installed: Installed,
) -> None:
    installed.wait_node(ready=True)
    before = installed.supervisor_pid()
    request = request_for_again(installed)
    machine = asyncio.run(installed.provider.create_machine(request, no_steps))
    assert machine.handle["host_key"] == installed.machine.handle["host_key"]
    assert installed.supervisor_pid() != before
    assert not running(before)
    supervisors = [p for p in all_pids() if f"supervise {installed.install_dir}" in cmdline(p)]
    assert supervisors == [installed.supervisor_pid()]
    # The same node, with the credential it has: no second join.
    assert installed.wait_node(ready=True)["id"] == installed.request.node_id
    assert "CORRAL_NODE_JOIN_TOKEN" not in (installed.install_dir / "node.env").read_text()


def test_a_changed_host_key_is_refused(installed: Installed, sshd: SshServer) -> None:
    recorded = installed.machine.handle["host_key_fingerprint"]
    with sshd.other_host_key() as other:
        with pytest.raises(ProviderError) as raised:
            asyncio.run(installed.provider.create_machine(request_for_again(installed), no_steps))
        # Nor is anything removed from a machine that may not be the one installed on.
        node_id, handle = installed.request.node_id, installed.machine.handle
        with pytest.raises(ProviderError) as refused_delete:
            asyncio.run(installed.provider.delete_machine(node_id, handle))
    assert refused_delete.value.reason == "ssh_host_key_changed"
    assert installed.install_dir.exists()
    error = raised.value
    assert not error.retryable
    assert error.reason == "ssh_host_key_changed"
    presented = asyncssh.import_public_key(other.public_key).get_fingerprint("sha256")
    assert "host key" in error.message and "changed" in error.message, error.message
    assert recorded in error.message and presented in error.message, error.message
    assert "remove the node and add it again" in error.message


def test_a_key_the_server_does_not_know_is_refused_without_showing_it(
    installed: Installed, tmp_path: Path
) -> None:
    stranger = make_key_pair(tmp_path, "stranger")
    provider = provider_with(stranger, installed.install_dir, tmp_path / "packages")
    with pytest.raises(ProviderError) as raised:
        asyncio.run(provider.create_machine(request_for_again(installed), no_steps))
    error = raised.value
    assert not error.retryable
    assert error.reason == "ssh_auth_failed"
    assert "refused the SSH key" in error.message
    shown = f"{error.message} {error!r} {error.__cause__!r} {error.__context__!r}"
    assert "PRIVATE KEY" not in shown
    secret_lines = [line for line in stranger.private_key.splitlines() if "-----" not in line]
    assert not [line for line in secret_lines if line in shown]


def test_a_server_that_does_not_answer_is_worth_retrying(installed: Installed) -> None:
    request = request_for_again(installed, port=closed_port())
    with pytest.raises(ProviderError) as raised:
        asyncio.run(installed.provider.create_machine(request, no_steps))
    assert raised.value.retryable, raised.value.message
    assert raised.value.reason == "ssh_unreachable"


def test_deleting_stops_the_node_and_removes_the_install(installed: Installed) -> None:
    """Last: it removes the module's install."""
    installed.wait_node(ready=True)
    pids = installed.node_pids()
    daemon = installed.daemon_pid()
    assert daemon in pids and installed.supervisor_pid() in pids
    node_id, handle = installed.request.node_id, installed.machine.handle
    asyncio.run(installed.provider.delete_machine(node_id, handle))
    assert not installed.install_dir.exists()
    eventually_sync(
        lambda: not [pid for pid in pids if running(pid)],
        "every process of the node gone",
        wait_seconds=STOP_SECONDS,
        context=lambda: "\n".join(cmdline(pid) for pid in pids if running(pid)),
    )
    assert installed.wait_node(ready=False)["state"] in ("ready", "stale")
    # Removing what is gone already is fine.
    asyncio.run(installed.provider.delete_machine(node_id, handle))


# --- Helpers ----------------------------------------------------------------------------------


def shows(step: str) -> bool:
    return any(step.startswith(prefix) for prefix in STEPS)


async def no_steps(_: str) -> None:
    return None


def request_for_again(installed: Installed, **options: Any) -> MachineRequest:
    """The module's request as a later attempt makes it: with the host key recorded."""
    known = {"known_host_key": installed.machine.handle["host_key"]}
    request = installed.request
    return replace(request, options={**request.options, **known, **options})


def closed_port() -> int:
    """A port of 127.0.0.1 nothing listens on (the kernel's free one a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port
