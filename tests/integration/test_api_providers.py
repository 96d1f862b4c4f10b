"""Nodes made by a provider, through the API and the app's own node reconciler, with the
in-package fake provider standing in for a cloud: making a node until it joins, retries and
deadlines, crashes mid-create, removal, idle nodes, orphans, costs and limits, leases."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from corral.control.db.base import utcnow
from corral.control.db.models import ActivityEvent, MachineState, Node
from corral.control.providers.base import LABEL_INSTANCE, LABEL_NODE, Machine, ProviderError
from corral.control.providers.fake import FakeProvider
from corral.control.reconcilers import reconcile_nodes
from corral.control.services import leases
from corral.control.services.orphans import sweep_orphans
from corral.settings import Settings, load_settings
from corral.states import WorkspaceState
from tests.support.api import ApiUser, app_state, invite
from tests.support.memnode import MemoryNode
from tests.support.waits import eventually


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        providers={
            "enabled": ["local", "fake"],
            "retry_min_seconds": 0.2,
            "retry_max_seconds": 0.5,
            "orphan_sweep_interval_seconds": 3600,
            "autoscale_wait_seconds": 0,
            "allow_loopback_control_url": True,
        },
        placement={"interval_seconds": 0.2},
    )


@pytest.fixture(autouse=True)
def fake_cloud() -> Iterator[type[FakeProvider]]:
    FakeProvider.reset()
    yield FakeProvider
    FakeProvider.reset()


@asynccontextmanager
async def app_with(
    tmp_path: Path, database_url: str, name: str, **settings: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, ApiUser]]:
    """Another app on the same database, with its own settings, and its owner signed in."""
    from corral.control.app import create_app
    from tests.support.api import sign_in_owner

    app = create_app(load_settings(data_dir=tmp_path / name, database_url=database_url, **settings))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, await sign_in_owner(app, client)


async def ask(
    client: httpx.AsyncClient, user: ApiUser, name: str = "cloud1", **fields: Any
) -> httpx.Response:
    body = {"name": name, "provider": "fake", "machine_type": "small", "region": "here", **fields}
    return await client.post("/api/v1/nodes", json=body, headers=user.headers)


async def node_in(
    client: httpx.AsyncClient, user: ApiUser, ref: str, state: str, wait_seconds: float = 20
) -> dict[str, Any]:
    async def check() -> dict[str, Any] | None:
        response = await client.get(f"/api/v1/nodes/{ref}", headers=user.headers)
        if response.status_code == 404 and state == "deleted":
            return {"state": "deleted"}
        found: dict[str, Any] = response.json()
        return found if found["state"] == state else None

    return await eventually(check, f"node {ref} {state}", wait_seconds=wait_seconds)


async def test_a_node_is_made_joins_and_lands_workspaces(
    app: FastAPI, client: httpx.AsyncClient, owner: ApiUser, fake_cloud: type[FakeProvider]
) -> None:
    response = await ask(client, owner)
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["join_token"] is None  # the provider hands the machine its token
    node = created["node"]
    assert node["state"] == "pending" and node["hourly_price"] == 0.01 and node["currency"] == "EUR"

    provisioning = await node_in(client, owner, "cloud1", "provisioning")
    assert provisioning["machine"] == "made"
    steps = [line["step"] for line in provisioning["bootstrap_log"]]
    assert "the machine was made" in steps
    assert len(fake_cloud.machines) == 1
    machine = next(iter(fake_cloud.machines.values()))
    assert machine.labels[LABEL_NODE] == node["id"]

    # The machine's bootstrap reports a step with its join token, then joins with it.
    bootstrap = fake_cloud.requests[-1].bootstrap
    assert bootstrap.control_url.startswith("http")
    auth = {"Authorization": f"Bearer {bootstrap.join_token}"}
    response = await client.post(
        "/api/v1/nodes/bootstrap", json={"step": "installing Docker"}, headers=auth
    )
    assert response.status_code == 204, response.text
    shown = (await client.get("/api/v1/nodes/cloud1", headers=owner.headers)).json()
    assert shown["bootstrap_log"][-1]["step"] == "installing Docker"
    # A machine's words are one printable line, whatever it sends.
    hostile = {"step": "pulling\x1b[2J\x1b]0;owned\x07 images\nnow"}
    response = await client.post("/api/v1/nodes/bootstrap", json=hostile, headers=auth)
    assert response.status_code == 204
    shown = (await client.get("/api/v1/nodes/cloud1", headers=owner.headers)).json()
    assert shown["bootstrap_log"][-1]["step"] == "pulling [2J ]0;owned images now"
    assert shown["state_reason"] == "pulling [2J ]0;owned images now"
    wrong = await client.post(
        "/api/v1/nodes/bootstrap", json={"step": "x"}, headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status_code == 401
    # The machine downloads the node's package with the same token.
    package = await client.get("/api/v1/nodes/package", headers=auth)
    assert package.status_code == 200, package.text
    assert package.content[:2] == b"PK"  # a wheel is a zip
    assert "corral-" in package.headers["content-disposition"]
    refused = await client.get("/api/v1/nodes/package")
    assert refused.status_code == 401

    joined = await client.post("/api/v1/nodes/join", json={"join_token": bootstrap.join_token})
    assert joined.status_code == 201, joined.text
    state = app_state(app)
    async with state.db() as db:
        row = await db.get(Node, node["id"])
        assert row is not None
    linked = MemoryNode(state, row)
    await linked.link()
    try:
        ready = await node_in(client, owner, "cloud1", "ready")
        assert ready["connected"] is True
    finally:
        await linked.close()


async def test_retries_after_a_passing_failure_and_errors_on_a_lasting_one(
    client: httpx.AsyncClient, owner: ApiUser, fake_cloud: type[FakeProvider]
) -> None:
    # Met while the sizes are read for the request itself: the request says so.
    fake_cloud.fail("machine_types", ProviderError("the API answered 503", retryable=True))
    first = await ask(client, owner)
    assert first.status_code == 503
    assert "503" in first.json()["error"]["message"]
    # Met by the reconciler: it tries again, and the node is made in the end.
    fake_cloud.fail("create_machine", *[ProviderError("the API answered 503", retryable=True)] * 2)
    assert (await ask(client, owner)).status_code == 201
    made = await node_in(client, owner, "cloud1", "provisioning")
    steps = [line["step"] for line in made["bootstrap_log"]]
    assert sum("the API answered 503 (trying again in" in step for step in steps) == 2
    assert len(fake_cloud.machines) == 1

    fake_cloud.fail("create_machine", ProviderError("the token was refused", retryable=False))
    assert (await ask(client, owner, name="cloud2")).status_code == 201
    failed = await node_in(client, owner, "cloud2", "error")
    assert failed["state_reason"] == "the token was refused"
    assert failed["last_error"] == "the token was refused"


async def test_a_crash_mid_create_never_makes_a_second_machine(
    app: FastAPI, client: httpx.AsyncClient, owner: ApiUser, fake_cloud: type[FakeProvider]
) -> None:
    node = (await ask(client, owner)).json()["node"]
    await node_in(client, owner, "cloud1", "provisioning")
    state = app_state(app)
    # As if the control plane died after the server was made and before it was recorded.
    async with state.db() as db:
        row = await db.get(Node, node["id"])
        assert row is not None
        row.state, row.provider_handle, row.next_attempt_at = "pending", {}, None  # type: ignore[assignment]
        await db.commit()
    await reconcile_nodes(state)
    await reconcile_nodes(state)
    again = await node_in(client, owner, "cloud1", "provisioning")
    assert again["machine"] == "made"
    assert len(fake_cloud.machines) == 1
    assert len(fake_cloud.requests) >= 2


async def test_past_its_deadline_a_node_errs_and_its_machine_goes(
    app: FastAPI, client: httpx.AsyncClient, owner: ApiUser, fake_cloud: type[FakeProvider]
) -> None:
    node = (await ask(client, owner)).json()["node"]
    await node_in(client, owner, "cloud1", "provisioning")
    state = app_state(app)
    async with state.db() as db:
        row = await db.get(Node, node["id"])
        assert row is not None
        row.provision_deadline_at = utcnow() - timedelta(seconds=1)
        await db.commit()
    state.nodes_due.set()
    failed = await node_in(client, owner, "cloud1", "error")
    assert "not ready within 15 min" in failed["state_reason"]

    async def gone() -> bool:
        shown = (await client.get("/api/v1/nodes/cloud1", headers=owner.headers)).json()
        return shown["machine"] == "gone" and not fake_cloud.machines

    await eventually(gone, "the machine deleted")


async def test_removing_a_node_deletes_its_machine_and_ends_its_bill(
    app: FastAPI, client: httpx.AsyncClient, owner: ApiUser, fake_cloud: type[FakeProvider]
) -> None:
    node = (await ask(client, owner)).json()["node"]
    await node_in(client, owner, "cloud1", "provisioning")
    fake_cloud.fail("delete_machine", ProviderError("the API timed out", retryable=True))
    removed = await client.delete("/api/v1/nodes/cloud1", headers=owner.headers)
    assert removed.status_code == 200, removed.text
    assert removed.json()["state"] == "deleting"
    await node_in(client, owner, "cloud1", "deleted")
    assert not fake_cloud.machines
    state = app_state(app)
    async with state.db() as db:
        row = await db.get(Node, node["id"])
        assert row is not None and row.machine == MachineState.GONE
        assert row.billing_started_at is not None and row.billing_ended_at is not None
        actions = set(
            await db.scalars(select(ActivityEvent.action).where(ActivityEvent.object_id == row.id))
        )
    assert {"node.created", "node.machine_made", "node.machine_deleted", "node.deleted"} <= actions
    # The name is free again.
    assert (await ask(client, owner)).status_code == 201


async def test_a_node_without_workspaces_is_deleted_after_its_idle_time(
    app: FastAPI, client: httpx.AsyncClient, owner: ApiUser, fake_cloud: type[FakeProvider]
) -> None:
    node = (await ask(client, owner)).json()["node"]
    await node_in(client, owner, "cloud1", "provisioning")
    state = app_state(app)
    async with state.db() as db:
        row = await db.get(Node, node["id"])
        assert row is not None
        row.state = "ready"  # type: ignore[assignment]
        row.idle_since = utcnow() - timedelta(minutes=31)
        await db.commit()
    state.nodes_due.set()
    await node_in(client, owner, "cloud1", "deleted")
    assert not fake_cloud.machines
    async with state.db() as db:
        actions = set(
            await db.scalars(
                select(ActivityEvent.action).where(ActivityEvent.object_id == node["id"])
            )
        )
    assert "node.idle_deleted" in actions


async def test_orphans_are_deleted_after_their_grace_and_others_are_left(
    app: FastAPI, owner: ApiUser, fake_cloud: type[FakeProvider]
) -> None:
    state = app_state(app)
    async with state.db() as db:
        instance = await leases.instance_id(db)
    old = utcnow() - timedelta(hours=1)

    def machine(machine_id: str, node_id: str, created: Any, instance_id: str) -> Machine:
        return Machine(
            id=machine_id,
            name=f"m{machine_id}",
            status="running",
            created_at=created,
            labels={LABEL_INSTANCE: instance_id, LABEL_NODE: node_id},
            handle={},
        )

    fake_cloud.machines.update(
        {
            "a": machine("a", "nod_forgotten", old, instance),
            "b": machine("b", "nod_young", utcnow(), instance),
            "c": machine("c", "nod_other", old, "ins_someone_else"),
        }
    )
    assert await sweep_orphans(state.provisioning) == 1
    assert set(fake_cloud.machines) == {"b", "c"}
    async with state.db() as db:
        events = (
            await db.scalars(
                select(ActivityEvent).where(ActivityEvent.action == "node.orphan_deleted")
            )
        ).all()
    assert [event.object_id for event in events] == ["nod_forgotten"]


async def test_limits_on_nodes_and_monthly_spend(
    tmp_path: Path, database_url: str, fake_cloud: type[FakeProvider]
) -> None:
    limited = {"enabled": ["fake"], "allow_loopback_control_url": True}
    async with app_with(
        tmp_path,
        database_url,
        "limits",
        providers={**limited, "max_nodes_per_user": 1, "max_monthly_spend": 100.0},
    ) as (client, owner):
        assert (await ask(client, owner)).status_code == 201
        second = await ask(client, owner, name="cloud2")
        assert second.status_code == 409
        assert second.json()["error"]["code"] == "node_limit"
    async with app_with(
        tmp_path, database_url, "spend", providers={**limited, "max_monthly_spend": 0.001}
    ) as (client, owner):
        refused = await ask(client, owner, name="cloud3")  # the same database
        assert refused.status_code == 409
        body = refused.json()["error"]
        assert body["code"] == "spend_limit"
        assert "monthly limit of 0.00 EUR" in body["message"]


async def test_a_members_node_is_theirs_alone(
    client: httpx.AsyncClient, owner: ApiUser, fake_cloud: type[FakeProvider]
) -> None:
    alice = await invite(client, owner, "alice")
    bob = await invite(client, owner, "bob")
    assert (await ask(client, alice, name="alices")).status_code == 201
    assert (await client.get("/api/v1/nodes/alices", headers=bob.headers)).status_code == 404
    listed = (await client.get("/api/v1/nodes", headers=bob.headers)).json()["items"]
    assert "alices" not in [n["name"] for n in listed]
    assert (await client.get("/api/v1/nodes/alices", headers=owner.headers)).status_code == 200
    assert (await client.delete("/api/v1/nodes/alices", headers=bob.headers)).status_code == 404
    costs = (await client.get("/api/v1/costs", headers=bob.headers)).json()
    assert costs == []


async def test_a_node_held_by_another_process_is_left_alone(
    app: FastAPI, client: httpx.AsyncClient, owner: ApiUser, fake_cloud: type[FakeProvider]
) -> None:
    state = app_state(app)
    node_id = "nod_" + "0" * 26
    async with state.db() as db:
        assert await leases.claim(db, f"node:{node_id}", "another-process", seconds=60)
        assert not await leases.claim(db, f"node:{node_id}", state.provisioning.holder, seconds=60)
        assert await leases.claim(db, f"node:{node_id}", "another-process", seconds=60)
        await leases.release(db, f"node:{node_id}", "another-process")
        assert await leases.claim(db, f"node:{node_id}", state.provisioning.holder, seconds=60)


async def test_a_workspace_that_finds_no_room_gets_a_node_from_its_users_template(
    app: FastAPI,
    client: httpx.AsyncClient,
    owner: ApiUser,
    git_repo: Any,
    fake_cloud: type[FakeProvider],
) -> None:
    from tests.integration.test_api_placement import add_project, create, settled

    template = {"provider": "fake", "machine_type": "small", "region": "here"}
    saved = await client.put("/api/v1/providers/default-node", json=template, headers=owner.headers)
    assert saved.status_code == 200, saved.text
    await add_project(client, owner, git_repo)
    ws = await create(client, owner)
    waiting = await settled(client, owner, ws["id"], "pending")

    async def node_asked_for() -> list[dict[str, Any]] | None:
        listed = (await client.get("/api/v1/nodes", headers=owner.headers)).json()["items"]
        made = [n for n in listed if n["name"].startswith("auto-owner-")]
        return made or None

    made = (await eventually(node_asked_for, "a node asked for"))[0]
    assert made["provider"] == "fake" and made["machine_type"] == "small"
    waiting = (await client.get(f"/api/v1/workspaces/{ws['id']}", headers=owner.headers)).json()
    assert waiting["state_reason"] == f"waiting for node {made['name']}, being made for it"
    # One node for the user, however many passes run while it is being made.
    await node_in(client, owner, made["name"], "provisioning")
    listed = (await client.get("/api/v1/nodes", headers=owner.headers)).json()["items"]
    assert len([n for n in listed if n["name"].startswith("auto-")]) == 1

    # It joins and links: the workspace lands on it.
    bootstrap = fake_cloud.requests[-1].bootstrap
    joined = await client.post("/api/v1/nodes/join", json={"join_token": bootstrap.join_token})
    assert joined.status_code == 201, joined.text
    state = app_state(app)
    async with state.db() as db:
        row = await db.get(Node, made["id"])
        assert row is not None
    linked = MemoryNode(state, row)
    await linked.link()
    try:
        landed = await settled(client, owner, ws["id"], "creating")
        assert landed["node_id"] == made["id"]
        await linked.report(ws["id"], WorkspaceState.RUNNING)
        await settled(client, owner, ws["id"], "running")
    finally:
        await linked.close()
    cleared = await client.delete("/api/v1/providers/default-node", headers=owner.headers)
    assert cleared.status_code == 204
    shown = await client.get("/api/v1/providers/default-node", headers=owner.headers)
    assert shown.json() is None


async def test_an_unexpected_failure_is_retried_not_spun_on(
    client: httpx.AsyncClient, owner: ApiUser, fake_cloud: type[FakeProvider]
) -> None:
    fake_cloud.failures.setdefault("create_machine", []).append(
        RuntimeError("a bug")  # type: ignore[arg-type]
    )
    assert (await ask(client, owner)).status_code == 201
    made = await node_in(client, owner, "cloud1", "provisioning")
    steps = [line["step"] for line in made["bootstrap_log"]]
    assert [s for s in steps if s.startswith("an internal error (trying again in")] != []
    assert len(fake_cloud.machines) == 1


async def test_a_control_plane_nodes_would_reach_over_plain_http_refuses_to_make_them(
    tmp_path: Path, database_url: str, fake_cloud: type[FakeProvider]
) -> None:
    async with app_with(
        tmp_path,
        database_url,
        "plain",
        public_url="http://corral.example.com:8420",
        providers={"enabled": ["fake"]},
    ) as (client, owner):
        refused = await ask(client, owner)
        assert refused.status_code == 422
        body = refused.json()["error"]
        assert body["code"] == "insecure_control_url"
        assert "not https" in body["message"] and "public_url" in body["message"]
        assert not fake_cloud.requests


async def test_cloud_machines_are_not_told_to_dial_their_own_loopback(
    tmp_path: Path, database_url: str, fake_cloud: type[FakeProvider]
) -> None:
    async with app_with(tmp_path, database_url, "loopback", providers={"enabled": ["fake"]}) as (
        client,
        owner,
    ):
        refused = await ask(client, owner)
        assert refused.status_code == 422
        body = refused.json()["error"]
        assert body["code"] == "loopback_control_url"
        assert "public_url" in body["message"]
