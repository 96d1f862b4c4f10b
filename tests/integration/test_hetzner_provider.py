"""The Hetzner provider, through the real `hcloud` library, against the fake Hetzner API on
127.0.0.1 (tests/support/hetzner_api.py): sizes and prices, a server made once per node behind
a firewall with no inbound port, what happens when the API fails, times out, rate-limits or
never finishes, and a server that boots into a node daemon joining a real control plane.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.control.providers import cloudinit
from corral.control.providers.base import (
    LABEL_INSTANCE,
    LABEL_NODE,
    LABEL_OWNER,
    MachineRequest,
    NodeBootstrap,
    ProviderError,
    no_progress,
)
from corral.control.providers.hetzner import HetznerProvider
from tests.support.hetzner_api import FakeHetznerApi, fake_hetzner_api
from tests.support.nodes import Api, exchange
from tests.support.processes import alive, corral_env, corral_server
from tests.support.waits import eventually, eventually_sync

INSTANCE = "ins_01test"
CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUT3N0\n-----END CERTIFICATE-----\n"


@pytest.fixture
def hetzner_api(tmp_path: Path) -> Iterator[FakeHetznerApi]:
    # Machines here never dial anything; the one test that boots a node turns it on.
    with fake_hetzner_api(tmp_path / "hetzner", boot_nodes=False, report_steps=False) as api:
        yield api


@pytest.fixture
async def provider(hetzner_api: FakeHetznerApi) -> AsyncIterator[HetznerProvider]:
    async with HetznerProvider.open(hetzner_api.settings(), hetzner_api.token) as opened:
        assert isinstance(opened, HetznerProvider)
        yield opened


def request_for(
    node_id: str = "nod_01node1",
    *,
    instance_id: str = INSTANCE,
    machine_type: str = "cx23",
    region: str = "fsn1",
    bootstrap: NodeBootstrap | None = None,
    **more: object,
) -> MachineRequest:
    bootstrap = bootstrap or NodeBootstrap(
        control_url="http://127.0.0.1:9",
        join_token="cnj_jointoken0123",
        node_version="0.1.0",
        package_url="http://127.0.0.1:9/api/v1/nodes/package",
        progress_url="http://127.0.0.1:9/api/v1/nodes/bootstrap",
    )
    return MachineRequest(
        node_id=node_id,
        node_name=f"node {node_id[-1]}",
        owner_id="usr_01owner",
        instance_id=instance_id,
        bootstrap=bootstrap,
        machine_type=machine_type,
        region=region,
        **more,  # type: ignore[arg-type]
    )


async def refused(call: object) -> ProviderError:
    with pytest.raises(ProviderError) as raised:
        await call  # type: ignore[misc]
    return raised.value


# --- sizes and places ---------------------------------------------------------------------------


async def test_machine_types_are_priced_per_location_without_deprecated_ones(provider):
    types = {t.name: t for t in await provider.machine_types()}
    assert set(types) == {"cx23", "cx33", "cpx31", "cax11", "ccx13"}  # not cx22, deprecated
    cx23 = types["cx23"]
    assert (cx23.cpus, cx23.memory_bytes, cx23.disk_bytes) == (2.0, 4 * 2**30, 40 * 10**9)
    assert cx23.currency == "EUR"
    assert cx23.hourly_price == pytest.approx(0.0048 * 1.19)  # gross
    # Deprecated in hel1, dearer in ash; sold out in hel1.
    cpx31 = types["cpx31"]
    assert cpx31.regions == ("ash", "fsn1", "nbg1")
    assert cpx31.price_in("ash") == pytest.approx(0.0264 * 1.19)
    assert cpx31.hourly_price == cpx31.price_in("fsn1") < cpx31.price_in("ash")
    assert types["cax11"].regions == ("fsn1", "nbg1")
    assert types["cax11"].architecture == "arm"
    prices = [t.hourly_price for t in await provider.machine_types()]
    assert prices == sorted(prices)


async def test_regions_are_hetzner_locations(provider):
    regions = {region.name: region for region in await provider.regions()}
    assert set(regions) == {"fsn1", "nbg1", "hel1", "ash"}
    assert (regions["hel1"].country, regions["hel1"].description) == ("FI", "Helsinki DC Park 1")


# --- creating ----------------------------------------------------------------------------------


async def test_create_makes_one_labelled_server_behind_a_firewall_that_lets_nothing_in(
    provider, hetzner_api
):
    steps: list[str] = []

    async def progress(step: str) -> None:
        steps.append(step)

    request = request_for()
    machine = await provider.create_machine(request, progress)

    [server] = hetzner_api.servers
    labels = {LABEL_INSTANCE: INSTANCE, LABEL_NODE: "nod_01node1", LABEL_OWNER: "usr_01owner"}
    assert server.labels == labels
    assert (server.server_type, server.location, server.image) == ("cx23", "fsn1", "debian-12")
    assert server.user_data == cloudinit.user_data(request)
    [firewall] = hetzner_api.firewalls
    assert firewall.rules == []  # Hetzner lets nothing in past a firewall without rules
    assert firewall.labels == labels
    assert server.firewall_ids == [firewall.id] and firewall.server_ids == [server.id]
    assert machine.id == str(server.id) and machine.name == server.name
    assert machine.node_id == "nod_01node1" and machine.instance_id == INSTANCE
    assert machine.handle == {"server_id": server.id, "firewall_id": firewall.id}
    assert machine.status == "running" and machine.public_ipv4
    assert steps == [
        "making the server's firewall",
        "creating the server",
        "the server is starting",
        "the server is running; the node is being installed on it",
    ]


async def test_allow_ssh_opens_port_22_and_nothing_else(provider, hetzner_api):
    await provider.create_machine(request_for(allow_ssh=True), no_progress)
    [firewall] = hetzner_api.firewalls
    assert [(r["direction"], r["protocol"], r["port"]) for r in firewall.rules] == [
        ("in", "tcp", "22")
    ]


async def test_creating_twice_for_a_node_makes_one_server(provider, hetzner_api):
    first = await provider.create_machine(request_for(), no_progress)
    second = await provider.create_machine(request_for(), no_progress)
    assert second.id == first.id
    assert len(hetzner_api.servers) == 1 and len(hetzner_api.firewalls) == 1
    assert hetzner_api.count("POST", "/servers") == 1


async def test_two_creates_racing_for_a_node_make_one_server(provider, hetzner_api):
    """Both miss the other's server and firewall and ask for them: the names, unique in a
    Hetzner project, let one through, and the other finds it by its labels."""
    hetzner_api.latency_seconds = 0.05  # so that both have looked before either makes
    first, second = await asyncio.gather(
        provider.create_machine(request_for(), no_progress),
        provider.create_machine(request_for(), no_progress),
    )
    assert first.id == second.id
    assert len(hetzner_api.servers) == 1 and len(hetzner_api.firewalls) == 1
    assert hetzner_api.count("POST", "/firewalls") == hetzner_api.count("POST", "/servers") == 2


async def test_a_server_type_or_location_hetzner_lacks_is_refused_for_good(provider, hetzner_api):
    for machine_type, region, words in [
        ("cx99", "fsn1", "no server type 'cx99'"),
        ("cx23", "mars1", "no location 'mars1'"),
        ("cpx31", "hel1", "does not make cpx31 servers in hel1 (it does in: ash, fsn1, nbg1)"),
        ("", "fsn1", "needs a server type"),
    ]:
        error = await refused(
            provider.create_machine(
                request_for(machine_type=machine_type, region=region), no_progress
            )
        )
        assert not error.retryable and words in error.message, error.message
    sold_out = await refused(
        provider.create_machine(request_for(machine_type="cax11", region="hel1"), no_progress)
    )
    assert sold_out.retryable, sold_out.message
    assert hetzner_api.servers == [] and hetzner_api.firewalls == []


# --- when the API fails ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "code", "text"),
    [(503, "unavailable", None), (500, "server_error", None), (502, None, "<html>bad</html>")],
)
async def test_a_failing_api_is_retryable_and_the_retry_makes_the_server(
    provider, hetzner_api, status, code, text
):
    hetzner_api.fail_next("POST", "/servers", status=status, code=code, text=text)
    error = await refused(provider.create_machine(request_for(), no_progress))
    assert error.retryable and error.reason == "provider_unavailable", error.message
    machine = await provider.create_machine(request_for(), no_progress)
    assert [s.id for s in hetzner_api.servers] == [int(machine.id)]
    # One request each time: hcloud's own retries are off, the reconciler's are the ones.
    assert hetzner_api.count("POST", "/servers") == 2


async def test_a_rate_limit_is_retryable(provider, hetzner_api):
    hetzner_api.rate_limit_next("GET", "/servers", reset_seconds=30)
    async with httpx.AsyncClient(trust_env=False) as client:
        answer = await client.get(
            f"{hetzner_api.endpoint}/servers",
            headers={"Authorization": f"Bearer {hetzner_api.token}"},
        )
    assert answer.status_code == 429
    assert answer.json()["error"]["code"] == "rate_limit_exceeded"
    assert answer.headers["RateLimit-Remaining"] == "0"
    assert int(answer.headers["RateLimit-Reset"]) >= time.time() + 25
    assert answer.headers["RateLimit-Limit"] == "3600"

    hetzner_api.rate_limit_next("GET", "/servers")
    error = await refused(provider.create_machine(request_for(), no_progress))
    assert error.retryable and error.reason == "provider_rate_limited", error.message
    await provider.create_machine(request_for(), no_progress)
    assert len(hetzner_api.servers) == 1


async def test_a_create_whose_answer_times_out_is_found_by_the_retry(hetzner_api):
    settings = hetzner_api.settings(request_timeout_seconds=0.5)
    hetzner_api.hang_next("POST", "/servers", seconds=3, after=True)
    async with HetznerProvider.open(settings, hetzner_api.token) as provider:
        started = time.monotonic()
        error = await refused(provider.create_machine(request_for(), no_progress))
        assert time.monotonic() - started < 2.5
        assert error.retryable and error.reason == "provider_timeout", error.message
        assert len(hetzner_api.servers) == 1  # made, though its answer was lost
        machine = await provider.create_machine(request_for(), no_progress)
    assert [s.id for s in hetzner_api.servers] == [int(machine.id)]
    assert hetzner_api.count("POST", "/servers") == 1


async def test_an_action_that_never_finishes_fails_within_the_deadline(hetzner_api):
    hetzner_api.never_finish("create_server")
    settings = hetzner_api.settings(action_timeout_seconds=1.0)
    async with HetznerProvider.open(settings, hetzner_api.token) as provider:
        started = time.monotonic()
        error = await refused(provider.create_machine(request_for(), no_progress))
        assert 1.0 <= time.monotonic() - started < 4.0
        assert error.retryable and error.reason == "provider_timeout", error.message
        assert "within 1 s" in error.message
        machine = await provider.create_machine(request_for(), no_progress)
    assert [s.id for s in hetzner_api.servers] == [int(machine.id)]


async def test_a_create_held_after_the_server_was_recorded_is_found_by_the_next(hetzner_api):
    """What a control plane killed mid-create leaves: a server whose answer never came."""
    hold = hetzner_api.hold_next_create()
    settings = hetzner_api.settings(request_timeout_seconds=1.0)
    async with HetznerProvider.open(settings, hetzner_api.token) as provider:
        error = await refused(provider.create_machine(request_for(), no_progress))
        assert error.retryable and hold.held, error.message
        server_id = await hold.wait_async()
        hold.release()
        machine = await provider.create_machine(request_for(), no_progress)
    assert machine.id == str(server_id)
    assert [s.id for s in hetzner_api.servers] == [server_id]


async def test_a_refused_token_is_not_retryable_and_never_shown(hetzner_api, caplog):
    token = "hz-wrong-token-" + "7" * 40
    async with HetznerProvider.open(hetzner_api.settings(), token) as provider:
        for call in (provider.machine_types(), provider.create_machine(request_for(), no_progress)):
            error = await refused(call)
            assert not error.retryable and error.reason == "provider_unauthorized"
            assert "Hetzner refused the API token" in error.message
            chain: BaseException | None = error
            while chain is not None:
                assert token not in str(chain) and token not in repr(chain)
                chain = chain.__cause__ or chain.__context__
    assert token not in caplog.text
    assert hetzner_api.servers == []


# --- deleting and listing ----------------------------------------------------------------------


async def test_delete_removes_the_server_and_its_firewall_and_is_idempotent(provider, hetzner_api):
    kept = await provider.create_machine(request_for("nod_01other"), no_progress)
    machine = await provider.create_machine(request_for(), no_progress)
    await provider.delete_machine("nod_01node1", machine.handle)
    assert [s.id for s in hetzner_api.servers] == [int(kept.id)]
    assert [f.server_ids for f in hetzner_api.firewalls] == [[int(kept.id)]]
    await provider.delete_machine("nod_01node1", machine.handle)  # gone already: fine
    await provider.delete_machine("nod_01node1", {})
    # A handle naming another node's server deletes nothing of it.
    await provider.delete_machine("nod_01node1", kept.handle)
    assert [s.id for s in hetzner_api.servers] == [int(kept.id)]


async def test_delete_without_a_handle_finds_the_server_by_its_label(provider, hetzner_api):
    await provider.create_machine(request_for(), no_progress)
    await provider.delete_machine("nod_01node1", {})
    assert hetzner_api.servers == [] and hetzner_api.firewalls == []


async def test_list_machines_finds_every_server_of_the_instance(provider, hetzner_api):
    for node in ("nod_01a", "nod_01b"):
        await provider.create_machine(request_for(node), no_progress)
    await provider.create_machine(request_for("nod_01c", instance_id="ins_01else"), no_progress)
    found = await provider.list_machines(INSTANCE)
    assert sorted(m.node_id or "" for m in found) == ["nod_01a", "nod_01b"]
    assert await provider.list_machines("ins_01none") == []


async def test_list_machines_reads_every_page(provider, hetzner_api):
    async with httpx.AsyncClient(
        base_url=hetzner_api.endpoint,
        headers={"Authorization": f"Bearer {hetzner_api.token}"},
        trust_env=False,
    ) as client:
        for number in range(55):  # hcloud asks for 50 a page
            made = await client.post(
                "/servers",
                json={
                    "name": f"s{number}",
                    "server_type": "cx23",
                    "image": "debian-12",
                    "labels": {LABEL_INSTANCE: INSTANCE, LABEL_NODE: f"n{number}"},
                },
            )
            assert made.status_code == 201, made.text
    assert len(await provider.list_machines(INSTANCE)) == 55


# --- the user data -----------------------------------------------------------------------------


async def test_the_user_data_sent_is_a_valid_cloud_config(provider, hetzner_api, tmp_path):
    bootstrap = NodeBootstrap(
        control_url="https://corral.example.com",
        join_token="cnj_jointoken0123",
        node_version="0.1.0",
        package_url="https://corral.example.com/api/v1/nodes/package",
        progress_url="https://corral.example.com/api/v1/nodes/bootstrap",
        ca_certificate=CA,
    )
    request = request_for(
        bootstrap=bootstrap, allow_ssh=True, ssh_public_keys=("ssh-ed25519 AAAAC3Nz me@laptop",)
    )
    await provider.create_machine(request, no_progress)
    [server] = hetzner_api.servers
    path = tmp_path / "user-data.yaml"
    path.write_text(server.user_data)
    # Debian's cloud-init, in the system's Python (scripts/test-deps.sh installs it).
    checked = await asyncio.to_thread(
        subprocess.run,
        ["/usr/bin/cloud-init", "schema", "--config-file", str(path)],
        env={"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "Valid cloud-config" in checked.stdout
    assert "deprecat" not in (checked.stdout + checked.stderr).lower()


# --- a server that boots into a node -----------------------------------------------------------


async def test_a_booted_server_joins_a_real_control_plane(provider, hetzner_api, tmp_path):
    env = corral_env(tmp_path / "server-home", None, CORRAL_NODES__HEARTBEAT_INTERVAL_SECONDS="1")
    with corral_server(tmp_path / "data", env) as server:
        assert server.link is not None
        api = Api(server.url, exchange(server.url, server.link))
        try:
            created = api.post("/nodes", {"name": "hz1"})
            bootstrap = NodeBootstrap(
                control_url=server.url,
                join_token=created["join_token"],
                node_version="0.1.0",
                package_url=f"{server.url}/api/v1/nodes/package",
                progress_url=f"{server.url}/api/v1/nodes/bootstrap",
            )
            hetzner_api.boot_nodes = hetzner_api.report_steps = True
            hetzner_api.node_env = {"CORRAL_NODE_RUNTIMES": json.dumps(["host"])}
            machine = await provider.create_machine(
                request_for(created["node"]["id"], bootstrap=bootstrap), no_progress
            )

            def ready() -> bool:
                node = api.get("/nodes/hz1")
                return bool(node["state"] == "ready" and node["connected"])

            await eventually(ready, "the booted node ready", context=hetzner_api.describe)
            [booted] = hetzner_api.servers
            steps = [step for step, _ in booted.boot.reports]
            assert steps == cloudinit.bootstrap_steps(bootstrap)
            assert booted.boot.node is not None and booted.boot.node.joined
            pid = booted.boot.node.pid
            assert pid is not None

            await provider.delete_machine(created["node"]["id"], machine.handle)
            assert hetzner_api.servers == []
            await eventually(lambda: not alive(pid), "the node daemon stopped")
        finally:
            api.close()


def test_a_node_asked_of_the_control_plane_is_made_on_hetzner_and_removed(hetzner_api, tmp_path):
    """The whole way: `POST /nodes` with the provider, the control plane's reconciler, this
    provider, the server booting into a node that joins; then `DELETE` removes it all."""
    hetzner_api.boot_nodes = hetzner_api.report_steps = True
    hetzner_api.node_env = {"CORRAL_NODE_RUNTIMES": json.dumps(["host"])}
    # Booting after the provider has answered, as a real machine does: a report landing while
    # the reconciler writes its own step to the node's log could lose one of the two.
    hetzner_api.boot_seconds = 1.0
    hetzner_api.fetch_package = True
    env = corral_env(
        tmp_path / "server-home",
        None,
        CORRAL_NODES__HEARTBEAT_INTERVAL_SECONDS="1",
        CORRAL_PROVIDERS__RECONCILE_INTERVAL_SECONDS="0.5",
        **hetzner_api.server_env(),
    )
    with corral_server(tmp_path / "data", env) as server:
        assert server.link is not None
        api = Api(server.url, exchange(server.url, server.link))
        try:
            api.call(
                "PUT",
                "/credentials/hz",
                json={"kind": "hetzner", "value": hetzner_api.token},
                expect=201,
            )
            body = {
                "name": "cloud1",
                "provider": "hetzner",
                "machine_type": "cx23",
                "region": "fsn1",
            }
            api.post("/nodes", body)

            def settled() -> dict[str, Any] | None:
                node: dict[str, Any] = api.get("/nodes/cloud1")
                return node if node["state"] in ("ready", "error") else None

            node = eventually_sync(settled, "the node made", context=hetzner_api.describe)
            assert node["state"] == "ready", node
            logged = [line["step"] for line in node["bootstrap_log"]]
            assert "creating the server" in logged and "starting the node daemon" in logged
            [made] = hetzner_api.servers
            assert made.labels[LABEL_NODE] == node["id"]
            assert made.boot.package is not None and made.boot.package[0] == 200  # the wheel

            api.call("DELETE", "/nodes/cloud1")
            eventually_sync(
                lambda: not hetzner_api.servers and not hetzner_api.firewalls,
                "the server and its firewall deleted",
                context=server.stderr,
            )
        finally:
            api.close()
