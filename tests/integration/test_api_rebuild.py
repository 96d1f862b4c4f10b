"""Rebuilding a workspace through the API, on nodes in memory: the node is asked with the
workspace's limits, its progress is the workspace's log, its outcome the workspace's state; a
runtime that cannot rebuild is refused with the node's own words."""

from __future__ import annotations

from typing import Any

import httpx

from corral.protocol.messages import RuntimeInfo, WorkspaceLimits, WorkspaceRebuild
from corral.states import WorkspaceState
from tests.integration.conftest import Fleet
from tests.integration.test_api_placement import DOCKER, GIB, add_project, create, settled
from tests.support.api import ApiUser
from tests.support.memnode import MemoryNode


async def running(
    client: httpx.AsyncClient, user: ApiUser, node: MemoryNode, **fields: Any
) -> dict[str, Any]:
    created = await create(client, user, **fields)
    await settled(client, user, created["id"], "creating")
    await node.progress(created["id"], "Cloning into 'repo'...")
    await node.report(created["id"], WorkspaceState.RUNNING)
    return await settled(client, user, created["id"], "running")


async def rebuild(
    client: httpx.AsyncClient, user: ApiUser, ref: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/api/v1/workspaces/{ref}/rebuild", json=body or None, headers=user.headers
    )


async def log(client: httpx.AsyncClient, user: ApiUser, ref: str) -> list[str]:
    lines: list[str] = (
        await client.get(f"/api/v1/workspaces/{ref}/log", headers=user.headers)
    ).json()["lines"]
    return lines


async def test_a_rebuild_asks_the_node_and_follows_its_progress_to_running(
    client, owner, git_repo, fleet: Fleet
):
    node = await fleet.join("docker", runtimes=[DOCKER])
    await add_project(client, owner, git_repo, memory_bytes=4 * GIB)
    workspace = await running(client, owner, node)

    answer = await rebuild(client, owner, workspace["name"])
    assert answer.status_code == 200, answer.text
    assert (answer.json()["state"], answer.json()["state_reason"]) == ("rebuilding", None)
    assert node.sent("workspace.rebuild") == [
        WorkspaceRebuild(
            id=workspace["id"],
            default_image=False,
            limits=WorkspaceLimits(cpus=1, memory_bytes=4 * GIB),
        )
    ]
    assert await log(client, owner, workspace["id"]) == []  # the clone's lines are gone
    await node.progress(workspace["id"], "Step 1/2 : FROM debian")
    assert await log(client, owner, workspace["id"]) == ["Step 1/2 : FROM debian"]
    await node.report(workspace["id"], WorkspaceState.RUNNING)
    await settled(client, owner, workspace["id"], "running")

    activity = await client.get(
        "/api/v1/activity", params={"object_id": workspace["id"]}, headers=owner.headers
    )
    actions = [e["action"] for e in activity.json()["items"]]
    assert actions[:2] == ["workspace.running", "workspace.rebuilding"]


async def test_after_a_failed_build_it_rebuilds_with_the_default_image(
    client, owner, git_repo, fleet: Fleet
):
    node = await fleet.join("docker", runtimes=[DOCKER])
    await add_project(client, owner, git_repo, runtime="devcontainer")
    workspace = await running(client, owner, node)
    await rebuild(client, owner, workspace["id"])
    await node.report(
        workspace["id"], WorkspaceState.ERROR, "the devcontainer build failed: no such image"
    )
    await settled(client, owner, workspace["id"], "error")

    answer = await rebuild(client, owner, workspace["id"], default_image=True)
    assert answer.status_code == 200, answer.text
    assert answer.json()["state_reason"] == "with the default image"
    assert node.sent("workspace.rebuild")[-1].default_image is True
    await node.report(workspace["id"], WorkspaceState.RUNNING)
    await settled(client, owner, workspace["id"], "running")


async def test_a_runtime_that_cannot_rebuild_is_refused_in_the_nodes_words(
    client, owner, git_repo, fleet: Fleet
):
    node = await fleet.join("plain")
    await add_project(client, owner, git_repo)
    workspace = await running(client, owner, node)
    refused = await rebuild(client, owner, workspace["id"])
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"]["code"] == "cannot_rebuild"
    assert refused.json()["error"]["message"] == (
        "the host runtime cannot rebuild a workspace: it has no container"
    )
    kept = await settled(client, owner, workspace["id"], "running")
    assert kept["state_reason"] is None
    activity = await client.get(
        "/api/v1/activity", params={"object_id": workspace["id"]}, headers=owner.headers
    )
    latest = activity.json()["items"][0]
    assert (latest["action"], latest["details"]["reason"]) == (
        "workspace.rebuild_refused",
        "the host runtime cannot rebuild a workspace: it has no container",
    )


async def test_a_stopped_workspace_the_node_will_not_rebuild_stays_stopped(
    client, owner, git_repo, fleet: Fleet
):
    node = await fleet.join("plain", runtimes=[RuntimeInfo(name="host")])
    await add_project(client, owner, git_repo)
    workspace = await running(client, owner, node)
    await client.post(f"/api/v1/workspaces/{workspace['id']}/stop", headers=owner.headers)
    refused = await rebuild(client, owner, workspace["id"])
    assert refused.status_code == 409
    await settled(client, owner, workspace["id"], "stopped")


async def test_a_workspace_still_waiting_for_a_node_cannot_be_rebuilt(client, owner, git_repo):
    await add_project(client, owner, git_repo)
    created = await create(client, owner)
    refused = await rebuild(client, owner, created["id"])
    assert refused.status_code == 409, refused.text
    assert refused.json()["error"] == {
        "code": "invalid_state",
        "message": "cannot move from 'pending' to 'rebuilding'; "
        "it must be one of 'error', 'running', 'stopped'",
        "details": None,
    }
