"""Placement through the API, with the app's own placement loop and nodes in memory: where a new
workspace goes, why it waits when it cannot go anywhere, and how it lands once it can."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from corral.control.app import create_state
from corral.control.db.models import Workspace
from corral.control.reconcilers import place_workspaces
from corral.control.services import auth
from corral.control.services.lifecycle import claim_transition
from corral.protocol.messages import RuntimeInfo, WorkspaceLimits
from corral.states import WorkspaceState
from tests.integration.conftest import Fleet
from tests.support.api import ApiUser
from tests.support.memnode import MemoryNode
from tests.support.waits import eventually

GIB = 1 << 30
DOCKER = RuntimeInfo(
    name="devcontainer",
    limits=True,
    default_limits=WorkspaceLimits(cpus=1, memory_bytes=2 * GIB),
)


async def add_project(
    client: httpx.AsyncClient, user: ApiUser, repo: Any, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/projects", json={"name": "demo", "repo": str(repo), **fields}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    project: dict[str, Any] = response.json()
    return project


async def create(client: httpx.AsyncClient, user: ApiUser, **fields: Any) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/workspaces", json={"project": "demo", **fields}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    assert created["state"] == "pending"
    return created


async def settled(
    client: httpx.AsyncClient, user: ApiUser, ref: str, state: str, reason: str | None = None
) -> dict[str, Any]:
    """The workspace once it is in `state` (with `reason`, if given)."""

    async def check() -> dict[str, Any] | None:
        found: dict[str, Any] = (
            await client.get(f"/api/v1/workspaces/{ref}", headers=user.headers)
        ).json()
        if found["state"] != state or (reason is not None and found["state_reason"] != reason):
            return None
        return found

    return await eventually(check, f"workspace {ref} {state} ({reason})")


async def test_a_workspace_goes_to_the_node_with_room_for_its_limits(
    client, owner, git_repo, fleet: Fleet
):
    small = await fleet.join("small", cpus=1)
    roomy = await fleet.join("roomy", cpus=8, runtimes=[DOCKER, RuntimeInfo(name="host")])
    await add_project(client, owner, git_repo, cpus=2, memory_bytes=GIB)
    created = await create(client, owner)
    assert (created["runtime"], created["limits"]) == (
        "auto",
        {"cpus": 2.0, "memory_bytes": GIB, "pids": None},
    )

    placed = await settled(client, owner, created["id"], "creating")
    assert placed["node_id"] == roomy.id
    # auto: devcontainer, which works there; its limits with the runtime's defaults filled in.
    assert placed["runtime"] == "devcontainer"
    assert placed["limits"] == {"cpus": 2.0, "memory_bytes": GIB, "pids": None}
    (spec,) = roomy.sent("workspace.create")
    assert (spec.runtime, spec.limits) == (
        "devcontainer",
        WorkspaceLimits(cpus=2, memory_bytes=GIB),
    )
    assert small.sent("workspace.create") == []

    activity = await client.get(
        "/api/v1/activity", params={"object_id": created["id"]}, headers=owner.headers
    )
    actions = {e["action"]: e["details"] for e in activity.json()["items"]}
    assert actions["workspace.placed"] == {
        "node": "roomy",
        "runtime": "devcontainer",
        "cpus": 2.0,
        "memory_bytes": GIB,
    }
    assert "workspace.creating" in actions


async def test_it_waits_saying_why_until_a_node_with_room_links(
    client, owner, git_repo, fleet: Fleet
):
    await fleet.join("small", cpus=4)
    await add_project(client, owner, git_repo, cpus=6)
    created = await create(client, owner)
    await settled(client, owner, created["id"], "pending", "no node has 6 CPUs free")

    big = await fleet.join("big", cpus=16)  # a provider's new machine, say: nobody asks again
    placed = await settled(client, owner, created["id"], "creating")
    assert (placed["node_id"], placed["state_reason"]) == (big.id, None)
    await big.report(created["id"], WorkspaceState.RUNNING)
    await settled(client, owner, created["id"], "running")


async def test_with_no_node_it_waits_and_can_be_deleted(client, owner, git_repo, fleet: Fleet):
    await add_project(client, owner, git_repo)
    created = await create(client, owner)
    await settled(
        client,
        owner,
        created["id"],
        "pending",
        "no node is ready: start Corral with `corral up`, or add one with `corral node add`",
    )
    deleted = await client.delete(f"/api/v1/workspaces/{created['id']}", headers=owner.headers)
    assert deleted.status_code == 204, deleted.text
    gone = await client.get(f"/api/v1/workspaces/{created['id']}", headers=owner.headers)
    assert gone.status_code == 404
    node = await fleet.join("late")
    again = await create(client, owner, name="after")
    await settled(client, owner, again["id"], "creating")
    assert [spec.id for spec in node.sent("workspace.create")] == [again["id"]]


async def test_a_named_node_is_waited_for_and_an_unknown_one_refused(
    client, owner, git_repo, fleet: Fleet
):
    await fleet.join("free", cpus=8)
    await fleet.join("busy", cpus=2)
    await add_project(client, owner, git_repo, cpus=2)
    first = await create(client, owner, node="busy")
    assert (await settled(client, owner, first["id"], "creating"))["node_id"] == fleet.nodes[1].id
    second = await create(client, owner, node="busy", name="second")
    await settled(
        client,
        owner,
        second["id"],
        "pending",
        "node busy does not have 2 CPUs free (it has 0 CPUs and 7 GiB free)",
    )
    missing = await client.post(
        "/api/v1/workspaces", json={"project": "demo", "node": "nowhere"}, headers=owner.headers
    )
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "no node named 'nowhere'"


async def test_stopped_workspaces_hold_no_room(client, owner, git_repo, fleet: Fleet):
    node = await fleet.join("only", cpus=2)
    await add_project(client, owner, git_repo, cpus=2)
    first = await create(client, owner)
    await settled(client, owner, first["id"], "creating")
    await node.report(first["id"], WorkspaceState.RUNNING)
    second = await create(client, owner, name="second")
    await settled(client, owner, second["id"], "pending", "no node has 2 CPUs free")
    stopped = await client.post(f"/api/v1/workspaces/{first['id']}/stop", headers=owner.headers)
    assert stopped.json()["state"] == "stopped"
    await settled(client, owner, second["id"], "creating")


async def test_a_user_with_the_most_running_workspaces_waits_and_cannot_start_more(
    app: FastAPI, client, owner, git_repo, fleet: Fleet
):
    app.state.corral.settings.placement.max_running_workspaces_per_user = 1
    node = await fleet.join("n1")
    await add_project(client, owner, git_repo)
    first = await create(client, owner)
    await settled(client, owner, first["id"], "creating")
    await node.report(first["id"], WorkspaceState.RUNNING)
    second = await create(client, owner, name="second")
    await settled(
        client, owner, second["id"], "pending", "you have 1 running workspace, the most allowed"
    )

    await client.post(f"/api/v1/workspaces/{first['id']}/stop", headers=owner.headers)
    await settled(client, owner, second["id"], "creating")
    refused = await client.post(f"/api/v1/workspaces/{first['id']}/start", headers=owner.headers)
    assert refused.status_code == 409
    assert refused.json()["error"] == {
        "code": "too_many_running",
        "message": "you have 1 running workspace, the most allowed; stop one first",
        "details": None,
    }


async def test_the_runtime_asked_for_is_the_one_used(client, owner, git_repo, fleet: Fleet):
    both = await fleet.join("both", runtimes=[DOCKER, RuntimeInfo(name="host")])
    await add_project(client, owner, git_repo, runtime="devcontainer")
    from_project = await create(client, owner)
    assert from_project["runtime"] == "devcontainer"
    overridden = await create(client, owner, name="plain", runtime="host")
    auto = await create(client, owner, name="auto", runtime="auto")
    for workspace, runtime in ((from_project, "devcontainer"), (overridden, "host")):
        assert (await settled(client, owner, workspace["id"], "creating"))["runtime"] == runtime
    assert (await settled(client, owner, auto["id"], "creating"))["runtime"] == "devcontainer"
    sent = {spec.name: spec.runtime for spec in both.sent("workspace.create")}
    assert sent == {"demo-1": "devcontainer", "plain": "host", "auto": "devcontainer"}


async def test_a_runtime_no_ready_node_offers_waits_saying_so(
    client, owner, git_repo, fleet: Fleet
):
    await fleet.join("plain")
    await add_project(client, owner, git_repo)
    created = await create(client, owner, runtime="devcontainer")
    await settled(
        client, owner, created["id"], "pending", "no ready node offers the devcontainer runtime"
    )


async def test_two_control_planes_place_a_workspace_once(app: FastAPI, client, owner, git_repo):
    """Two more processes on the app's database, one node linked to both (as to two replicas,
    while routing is not shared): each runs a pass at the same moment, and one of them wins."""
    settings = app.state.corral.settings
    first, second = create_state(settings), create_state(settings)
    await add_project(client, owner, git_repo)
    created = await create(client, owner)
    async with first.db() as db:
        owner_row = await auth.get_owner(db)
    node_a = await MemoryNode.join(first, owner_row, "n1")
    node_b = MemoryNode(second, node_a.node)
    try:
        await node_b.link()
        await asyncio.gather(place_workspaces(first), place_workspaces(second))
        placed = await settled(client, owner, created["id"], "creating")
        assert placed["node_id"] == node_a.id
        sent = [*node_a.sent("workspace.create"), *node_b.sent("workspace.create")]
        assert [spec.id for spec in sent] == [created["id"]]
        activity = await client.get(
            "/api/v1/activity", params={"object_id": created["id"]}, headers=owner.headers
        )
        placements = [e for e in activity.json()["items"] if e["action"] == "workspace.placed"]
        assert len(placements) == 1
    finally:
        for node in (node_a, node_b):
            await node.close()
        for state in (first, second):
            await state.node_registry.close_all("the test ended")
            await state.engine.dispose()


async def test_of_two_claims_made_at_once_the_second_finds_the_workspace_gone(
    app: FastAPI, client, owner, git_repo
):
    """The claim itself: the second process's conditional update, made while the first's is
    not committed, waits for that commit (PostgreSQL's row lock, SQLite's write lock), then
    finds the row no longer pending."""
    state = app.state.corral
    await add_project(client, owner, git_repo)
    created = await create(client, owner)
    async with state.db() as one, state.db() as other:
        mine = await one.get(Workspace, created["id"])
        theirs = await other.get(Workspace, created["id"])
        assert mine is not None and theirs is not None
        assert await claim_transition(one, "workspace", mine, WorkspaceState.CREATING)
        racing = asyncio.create_task(
            claim_transition(other, "workspace", theirs, WorkspaceState.DELETING)
        )
        await one.commit()
        assert await racing is False
        await other.rollback()
    found = await client.get(f"/api/v1/workspaces/{created['id']}", headers=owner.headers)
    assert found.json()["state"] == "creating"


async def test_nodes_show_their_runtimes_and_what_they_offer(client, owner, fleet: Fleet) -> None:
    broken = DOCKER.model_copy(update={"available": False, "problem": "Docker is not running"})
    await fleet.join(
        "n1",
        runtimes=[broken, RuntimeInfo(name="host")],
        allocatable_cpus=3.5,
        allocatable_memory_bytes=6 * GIB,
    )
    shown = (await client.get("/api/v1/nodes/n1", headers=owner.headers)).json()
    assert (
        shown["capacity"]["allocatable_cpus"],
        shown["capacity"]["allocatable_memory_bytes"],
    ) == (
        3.5,
        6 * GIB,
    )
    assert [(r["name"], r["available"], r["problem"], r["limits"]) for r in shown["runtimes"]] == [
        ("devcontainer", False, "Docker is not running", True),
        ("host", True, None, False),
    ]
    assert shown["runtimes"][0]["default_limits"] == {
        "cpus": 1.0,
        "memory_bytes": 2 * GIB,
        "pids": None,
    }


# -- what is refused up front ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"cpus": 0}, "body.cpus", "Input should be greater than 0"),
        ({"cpus": 2000}, "body.cpus", "Input should be less than or equal to 1024"),
        (
            {"memory_bytes": 1024},
            "body.memory_bytes",
            "Input should be greater than or equal to 67108864",
        ),
        ({"pids": 1}, "body.pids", "Input should be greater than or equal to 32"),
        ({"runtime": "Docker!"}, "body.runtime", "String should match pattern"),
    ],
)
async def test_limits_and_runtimes_out_of_range_are_refused(
    client, owner, git_repo, fields, field, message
):
    response = await client.post(
        "/api/v1/projects",
        json={"name": "demo", "repo": str(git_repo), **fields},
        headers=owner.headers,
    )
    assert response.status_code == 422, response.text
    (detail,) = response.json()["error"]["details"]
    assert detail["field"] == field
    assert detail["message"].startswith(message)


async def test_an_unknown_runtime_is_refused_naming_the_known_ones(
    client, owner, git_repo, fleet: Fleet
):
    await fleet.join("n1", runtimes=[RuntimeInfo(name="host"), RuntimeInfo(name="fake")])
    response = await client.post(
        "/api/v1/projects",
        json={"name": "demo", "repo": str(git_repo), "runtime": "dokcer"},
        headers=owner.headers,
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == {
        "code": "unknown_runtime",
        "message": "there is no runtime 'dokcer'; choose auto or one of: devcontainer, fake, host",
        "details": [{"field": "body.runtime"}],
    }
    await add_project(client, owner, git_repo)
    workspace = await client.post(
        "/api/v1/workspaces", json={"project": "demo", "runtime": "dokcer"}, headers=owner.headers
    )
    assert workspace.status_code == 422
    assert workspace.json()["error"]["code"] == "unknown_runtime"


async def test_a_runtime_the_named_node_lacks_is_refused_naming_its_runtimes(
    client, owner, git_repo, fleet: Fleet
):
    await fleet.join("plain")
    await add_project(client, owner, git_repo)
    response = await client.post(
        "/api/v1/workspaces",
        json={"project": "demo", "node": "plain", "runtime": "devcontainer"},
        headers=owner.headers,
    )
    assert response.status_code == 409, response.text
    assert response.json()["error"] == {
        "code": "runtime_not_offered",
        "message": "node plain does not offer the devcontainer runtime; it offers: host",
        "details": [{"field": "body.runtime"}],
    }
    listed = await client.get("/api/v1/workspaces", headers=owner.headers)
    assert listed.json()["items"] == []


async def test_a_projects_runtime_and_limits_change_and_go_back_to_defaults(
    client, owner, git_repo
):
    project = await add_project(client, owner, git_repo, runtime="host", cpus=1.5, pids=256)
    assert (project["runtime"], project["cpus"], project["memory_bytes"], project["pids"]) == (
        "host",
        1.5,
        None,
        256,
    )
    patched = await client.patch(
        "/api/v1/projects/demo",
        json={"runtime": None, "memory_bytes": 4 * GIB, "cpus": None},
        headers=owner.headers,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["runtime"], body["cpus"], body["memory_bytes"], body["pids"]) == (
        "auto",
        None,
        4 * GIB,
        256,
    )
    untouched = await client.patch(
        "/api/v1/projects/demo", json={"name": "renamed"}, headers=owner.headers
    )
    assert (untouched.json()["memory_bytes"], untouched.json()["pids"]) == (4 * GIB, 256)
