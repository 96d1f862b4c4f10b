"""A control plane killed with SIGKILL at any step of making or removing a Hetzner node: after
a restart there is exactly one server for a live node (or none once it is removed), one node,
and nothing orphaned, against the tests' Hetzner API with real `corral serve` and node daemons."""

from __future__ import annotations

import json
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.control.providers.base import LABEL_NODE
from tests.support.hetzner_api import FakeHetznerApi, fake_hetzner_api
from tests.support.nodes import Api, exchange
from tests.support.processes import CorralServer, corral_env, corral_server
from tests.support.waits import eventually_sync

NODE = {"name": "cloud1", "provider": "hetzner", "machine_type": "cx23", "region": "fsn1"}


@pytest.fixture
def hetzner_api(tmp_path: Path) -> Iterator[FakeHetznerApi]:
    with fake_hetzner_api(
        tmp_path / "hetzner", node_env={"CORRAL_NODE_RUNTIMES": json.dumps(["host"])}
    ) as api:
        yield api


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Site:
    """A `corral serve` on a fixed port (a booted node keeps dialling the URL it was given),
    which a test kills and starts again on the same data directory."""

    def __init__(self, tmp_path: Path, hetzner: FakeHetznerApi) -> None:
        self.data_dir = tmp_path / "data"
        self.port = free_port()
        self.env = corral_env(
            tmp_path / "server-home",
            None,
            CORRAL_NODES__HEARTBEAT_INTERVAL_SECONDS="1",
            CORRAL_PROVIDERS__RECONCILE_INTERVAL_SECONDS="0.5",
            CORRAL_PROVIDERS__RETRY_MIN_SECONDS="0.5",
            CORRAL_PROVIDERS__RETRY_MAX_SECONDS="1",
            CORRAL_PROVIDERS__LEASE_SECONDS="3",
            # Sweep often and with no grace: a sweeper that took a live node's server for an
            # orphan would delete it in front of the test.
            CORRAL_PROVIDERS__ORPHAN_SWEEP_INTERVAL_SECONDS="1",
            CORRAL_PROVIDERS__ORPHAN_GRACE_SECONDS="0",
            **hetzner.server_env(),
        )
        self.token: str | None = None
        self.server: CorralServer | None = None
        self.api: Api | None = None

    def start(self) -> Api:
        first = self.token is None
        self._stack = corral_server(self.data_dir, self.env, port=self.port, expect_link=first)
        self.server = self._stack.__enter__()
        if first:
            assert self.server.link is not None
            self.token = exchange(self.server.url, self.server.link)
        assert self.token is not None
        self.api = Api(self.server.url, self.token, context=self.server.stderr)
        return self.api

    def kill(self) -> None:
        """SIGKILL, as a crash or an OOM kill would end it: no clean-up runs."""
        assert self.server is not None and self.api is not None
        self.api.close()
        self.server.process.send_signal(signal.SIGKILL)
        self.server.process.wait(timeout=30)
        self._stack.__exit__(None, None, None)
        self.server = self.api = None

    def stop(self) -> None:
        if self.server is not None:
            assert self.api is not None
            self.api.close()
            self._stack.__exit__(None, None, None)


@pytest.fixture
def site(tmp_path: Path, hetzner_api: FakeHetznerApi) -> Iterator[Site]:
    made = Site(tmp_path, hetzner_api)
    try:
        api = made.start()
        api.call(
            "PUT",
            "/credentials/hz",
            json={"kind": "hetzner", "value": hetzner_api.token},
            expect=201,
        )
        yield made
    finally:
        made.stop()


def node_named(api: Api, name: str) -> dict[str, Any] | None:
    nodes: list[dict[str, Any]] = api.get("/nodes")["items"]
    found = [node for node in nodes if node["name"] == name]
    assert len(found) <= 1, found
    return found[0] if found else None


def ready_with_one_server(api: Api, hetzner: FakeHetznerApi) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        node = node_named(api, "cloud1")
        return node if node is not None and node["state"] == "ready" else None

    node = eventually_sync(ready, "cloud1 ready", context=hetzner.describe)
    [server] = hetzner.servers
    assert server.labels[LABEL_NODE] == node["id"]
    assert len(hetzner.firewalls) == 1
    assert len(api.get("/nodes")["items"]) == 1
    return node


def removed_leaving_nothing(api: Api, hetzner: FakeHetznerApi) -> None:
    api.call("DELETE", "/nodes/cloud1")
    eventually_sync(
        lambda: node_named(api, "cloud1") is None and not hetzner.servers and not hetzner.firewalls,
        "cloud1 removed with its server and firewall",
        context=hetzner.describe,
    )


def test_killed_after_the_server_was_made_and_before_it_was_recorded(
    site: Site, hetzner_api: FakeHetznerApi
) -> None:
    assert site.api is not None
    hold = hetzner_api.hold_next_create()
    site.api.post("/nodes", NODE)
    hold.wait(60)  # the server exists at the provider; the control plane has not heard
    site.kill()
    hold.release()
    api = site.start()
    ready_with_one_server(api, hetzner_api)
    assert hetzner_api.count("POST", "/servers") == 1  # found by its label, not made again
    # The token that deletes the server is kept while the server is.
    in_use = api.request("DELETE", "/credentials/hz")
    assert in_use.status_code == 409 and in_use.json()["error"]["code"] == "credential_in_use"
    removed_leaving_nothing(api, hetzner_api)
    api.call("DELETE", "/credentials/hz", expect=204)


def test_killed_while_the_firewall_was_being_made(site: Site, hetzner_api: FakeHetznerApi) -> None:
    assert site.api is not None
    hetzner_api.hang_next("POST", "/firewalls", seconds=4, after=True)
    site.api.post("/nodes", NODE)
    eventually_sync(lambda: hetzner_api.count("POST", "/firewalls") >= 1, "the firewall asked for")
    site.kill()
    api = site.start()
    ready_with_one_server(api, hetzner_api)
    removed_leaving_nothing(api, hetzner_api)


def test_killed_while_the_node_was_booting(site: Site, hetzner_api: FakeHetznerApi) -> None:
    assert site.api is not None
    hetzner_api.boot_seconds = 4
    site.api.post("/nodes", NODE)

    def provisioning() -> bool:
        node = node_named(site.api, "cloud1") if site.api else None
        return node is not None and node["state"] == "provisioning"

    eventually_sync(provisioning, "cloud1 provisioning")
    site.kill()
    api = site.start()
    ready_with_one_server(api, hetzner_api)
    assert hetzner_api.count("POST", "/servers") == 1
    removed_leaving_nothing(api, hetzner_api)


def test_killed_while_the_server_was_being_deleted(site: Site, hetzner_api: FakeHetznerApi) -> None:
    assert site.api is not None
    site.api.post("/nodes", NODE)
    ready_with_one_server(site.api, hetzner_api)
    hetzner_api.delete_seconds = 4
    site.api.call("DELETE", "/nodes/cloud1")
    eventually_sync(lambda: hetzner_api.count("DELETE", "/servers/*") >= 1, "the delete asked for")
    site.kill()
    api = site.start()
    eventually_sync(
        lambda: (
            node_named(api, "cloud1") is None
            and not hetzner_api.servers
            and not hetzner_api.firewalls
        ),
        "cloud1 removed with its server and firewall after the restart",
        context=hetzner_api.describe,
    )
