"""The providers end to end, as a user drives them with the CLI: `corral node create
--provider hetzner` against the tests' Hetzner API and `corral node add --ssh` against a real
OpenSSH server on 127.0.0.1 each give a ready node that runs a dev container workspace (on a
private dockerd) with an agent turn in it; removing them leaves nothing at the provider."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.test_devcontainer_workspaces import CACHE, dev_repo
from tests.support.docker import DockerEngine
from tests.support.hetzner_api import FakeHetznerApi, fake_hetzner_api
from tests.support.nodes import Api, exchange
from tests.support.processes import corral_env, corral_server, run_cli
from tests.support.sessions import SessionSite, agent_message_text
from tests.support.sshd import SshKeyPair, SshServer

WAIT_SECONDS = 300.0
INSTALL_TIMEOUT_SECONDS = 600.0


def devcontainer_settings(docker_engine: DockerEngine, base_image: str) -> dict[str, Any]:
    return {
        "docker_host": docker_engine.docker_host,
        "docker_netns": docker_engine.netns,
        "default_image": base_image,
        "tools_dir": str(CACHE / "tools"),
    }


@dataclass
class Cloud:
    api: Api
    url: str
    cli_env: dict[str, str]
    hetzner: FakeHetznerApi
    sshd: SshServer
    ssh_key: SshKeyPair
    install_dir: Path
    """Where the SSH provider installs the node on the server."""


@pytest.fixture(scope="module")
def cloud(
    docker_engine: DockerEngine,
    docker_base_image: str,
    ssh_client_key: SshKeyPair,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Cloud]:
    base = tmp_path_factory.mktemp("provider-nodes")
    (base / "sshd").mkdir()
    devcontainer = devcontainer_settings(docker_engine, docker_base_image)
    # A booted Hetzner machine's node: the devcontainer runtime on the tests' dockerd.
    booted_env = {
        "CORRAL_NODE_RUNTIMES": json.dumps(["devcontainer"]),
        "CORRAL_NODE_RUNTIME_SETTINGS": json.dumps({"devcontainer": devcontainer}),
    }
    # The SSH server's own node settings, as its administrator would set them for sessions
    # (sshd_config cannot quote JSON: one variable per setting).
    ssh_env = {
        f"CORRAL_NODE_RUNTIME_SETTINGS__devcontainer__{key}": value
        for key, value in devcontainer.items()
    }
    with (
        fake_hetzner_api(base / "hetzner", node_env=booted_env, boot_seconds=1.0) as hetzner,
        SshServer([ssh_client_key], base / "sshd", environment=ssh_env) as sshd,
    ):
        env = corral_env(
            base / "server-home",
            None,
            CORRAL_NODES__HEARTBEAT_INTERVAL_SECONDS="1",
            CORRAL_PROVIDERS__RECONCILE_INTERVAL_SECONDS="0.5",
            CORRAL_PROVIDERS__SSH__INSTALL_DIR=str(base / "installed"),
            **hetzner.server_env(),
        )
        with corral_server(base / "data", env) as server:
            assert server.link is not None
            token = exchange(server.url, server.link)
            api = Api(server.url, token, context=server.stderr)
            cli_env = corral_env(base / "cli-home")
            login = run_cli("login", server.url, input=token + "\n", env=cli_env)
            assert login.returncode == 0, login.stderr
            api.post(
                "/projects",
                {"name": "demo", "repo": str(dev_repo(base / "origin", docker_base_image))},
            )
            api.post(
                "/agents",
                {"name": "scripted", "command": ["python3", "/opt/scripted/scripted_agent.py"]},
            )
            api.call(
                "PATCH",
                "/agents/scripted/settings",
                json={
                    "env": {
                        "PYTHONPATH": "/opt/scripted/site",
                        "SCRIPTED_AGENT_STATE": "/var/lib/corral/.scripted",
                    }
                },
            )
            try:
                yield Cloud(
                    api, server.url, cli_env, hetzner, sshd, ssh_client_key, base / "installed"
                )
            finally:
                api.close()


def cli(cloud: Cloud, *args: str, input: str | None = None) -> str:
    result = run_cli(*args, env=cloud.cli_env, input=input, timeout=INSTALL_TIMEOUT_SECONDS)
    assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"
    return result.stdout


def a_turn_in_a_dev_container_on(cloud: Cloud, node: str, name: str) -> None:
    """A dev container workspace on `node` runs the scripted agent's turn inside it."""
    made = json.loads(
        cli(
            cloud,
            "workspace",
            "create",
            "demo",
            "--runtime",
            "devcontainer",
            "--node",
            node,
            "--name",
            name,
            "--json",
        )
    )
    assert made["state"] == "running", made
    site = SessionSite(cloud.api, cloud.url, made["id"], Path(), Path(), Path(), WAIT_SECONDS)
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    prompt_id = site.prompt(
        session["id"], "terminal cmd=test -f /.dockerenv && echo ran-in-$(id -un)-on-$((6*7))"
    )
    assert site.turn(session["id"], prompt_id)["stop_reason"] == "end_turn"
    assert "ran-in-dev-on-42" in agent_message_text(site.events(session["id"]))
    site.api.post(f"/sessions/{session['id']}/stop", {}, expect=200)
    cli(cloud, "workspace", "rm", name)


def test_a_hetzner_node_made_with_the_cli_runs_a_dev_container_and_goes(cloud: Cloud) -> None:
    cli(cloud, "credentials", "set", "hetzner", "--name", "hz", input=cloud.hetzner.token)
    made = cli(
        cloud,
        "node",
        "create",
        "hz1",
        "--provider",
        "hetzner",
        "--size",
        "cx23",
        "--region",
        "fsn1",
    )
    assert "creating the server" in made  # each step, as it happened
    assert "Node hz1 is ready." in made
    listed = cli(cloud, "node", "list")
    assert "hetzner cx23/fsn1" in listed and "EUR/h" in listed
    [server] = cloud.hetzner.servers
    a_turn_in_a_dev_container_on(cloud, "hz1", "on-hetzner")

    removed = cli(cloud, "node", "rm", "hz1")
    assert "Removed node hz1." in removed
    assert not cloud.hetzner.servers and not cloud.hetzner.firewalls
    booted = server.boot.node
    assert booted is not None and booted.pid is None  # the machine's node went with it


def test_an_ssh_node_added_with_the_cli_runs_a_dev_container_and_is_uninstalled(
    cloud: Cloud,
) -> None:
    cli(
        cloud, "credentials", "set", "ssh-key", "--name", "box-key", input=cloud.ssh_key.private_key
    )
    added = cli(
        cloud,
        "node",
        "add",
        "box",
        "--ssh",
        f"{cloud.sshd.user}@{cloud.sshd.host}",
        "--port",
        str(cloud.sshd.port),
        "--key",
        "box-key",
    )
    assert "Node box is ready." in added
    shown = cli(cloud, "node", "show", "box")
    assert "host key: SHA256:" in shown
    assert (cloud.install_dir / "venv" / "bin" / "python").exists()
    a_turn_in_a_dev_container_on(cloud, "box", "on-ssh")

    removed = cli(cloud, "node", "rm", "box")
    assert "Removed node box." in removed
    assert not cloud.install_dir.exists()  # uninstalled: the service, the files, its data
