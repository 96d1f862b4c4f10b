"""The idle policy over the API: a project's and a workspace's idle timeout, what a workspace
says of when it stops, and the refusals of timeouts that are not whole minutes up to 30 days."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from corral.control.db.models import User
from corral.states import WorkspaceState
from tests.integration.conftest import Fleet
from tests.integration.test_api_placement import DOCKER, add_project, create, settled
from tests.support.api import ApiUser, app_state
from tests.support.memnode import MemoryNode

API = "/api/v1"


@pytest.fixture
async def node(app: FastAPI, owner: ApiUser) -> AsyncIterator[MemoryNode]:
    state = app_state(app)
    async with state.db() as db:
        user = await db.get(User, owner.id)
    assert user is not None
    memory = await MemoryNode.join(state, user, "n1")
    try:
        yield memory
    finally:
        await memory.close()


async def _call(
    client: httpx.AsyncClient,
    owner: ApiUser,
    method: str,
    path: str,
    body: Any = None,
    expect: int = 200,
) -> Any:
    response = await client.request(method, f"{API}{path}", json=body, headers=owner.headers)
    assert response.status_code == expect, response.text
    return response.json()


async def test_a_workspace_stops_when_idle_by_its_own_or_its_projects_timeout(
    client: httpx.AsyncClient, owner: ApiUser, git_repo: Path, node: MemoryNode
) -> None:
    project = await _call(
        client,
        owner,
        "POST",
        "/projects",
        {"name": "demo", "repo": str(git_repo), "idle_timeout_minutes": 45},
        201,
    )
    assert project["idle_timeout_minutes"] == 45
    created = await _call(client, owner, "POST", "/workspaces", {"project": "demo"}, 201)
    assert (created["idle_timeout_minutes"], created["idle_timeout_source"]) == (45, "project")
    assert (created["state"], created["idle_stop_at"]) == ("pending", None)  # not running yet
    await settled(client, owner, created["id"], "creating")
    await node.report(created["id"], WorkspaceState.RUNNING)

    running = await _call(client, owner, "GET", f"/workspaces/{created['id']}")
    last_active = datetime.fromisoformat(running["last_active_at"])
    assert datetime.fromisoformat(running["state_changed_at"]) <= last_active
    assert datetime.fromisoformat(running["idle_stop_at"]) == last_active + timedelta(minutes=45)
    assert running["idle_hold"] is None

    own = await _call(
        client, owner, "PATCH", f"/workspaces/{created['id']}", {"idle_timeout_minutes": 10}
    )
    assert (own["idle_timeout_minutes"], own["idle_timeout_source"]) == (10, "workspace")
    unchanged = await _call(client, owner, "PATCH", f"/workspaces/{created['id']}", {})
    assert unchanged["idle_timeout_source"] == "workspace"
    kept = await _call(
        client, owner, "PATCH", f"/workspaces/{created['id']}", {"idle_timeout_minutes": 0}
    )
    assert (kept["idle_timeout_minutes"], kept["idle_stop_at"]) == (None, None)

    back = await _call(
        client, owner, "PATCH", f"/workspaces/{created['id']}", {"idle_timeout_minutes": None}
    )
    assert (back["idle_timeout_minutes"], back["idle_timeout_source"]) == (45, "project")
    project = await _call(client, owner, "PATCH", "/projects/demo", {"idle_timeout_minutes": 0})
    assert project["idle_timeout_minutes"] == 0
    never = (await _call(client, owner, "GET", "/workspaces"))["items"][0]
    assert (never["idle_timeout_minutes"], never["idle_timeout_source"]) == (None, "project")
    assert never["idle_stop_at"] is None
    renamed = await _call(client, owner, "PATCH", "/projects/demo", {"name": "demo2"})
    assert renamed["idle_timeout_minutes"] == 0  # left out: unchanged
    default = await _call(client, owner, "PATCH", "/projects/demo2", {"idle_timeout_minutes": None})
    assert default["idle_timeout_minutes"] is None
    again = await _call(client, owner, "GET", f"/workspaces/{created['id']}")
    assert (again["idle_timeout_minutes"], again["idle_timeout_source"]) == (30, "default")

    feed = await _call(client, owner, "GET", f"/activity?object_id={created['id']}")
    updates = [e for e in feed["items"] if e["action"] == "workspace.updated"]
    assert [e["details"] for e in updates] == [{"changed": ["idle_timeout_minutes"]}] * 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "Input should be greater than or equal to 0"),
        (43_201, "Input should be less than or equal to 43200"),
        (1.5, "Input should be a valid integer, got a number with a fractional part"),
        ("45m", "Input should be a valid integer, unable to parse string as an integer"),
    ],
)
async def test_an_idle_timeout_is_whole_minutes_up_to_30_days(
    client: httpx.AsyncClient,
    owner: ApiUser,
    git_repo: Path,
    node: MemoryNode,
    value: Any,
    message: str,
) -> None:
    body = {"name": "demo", "repo": str(git_repo), "idle_timeout_minutes": value}
    refused = await _call(client, owner, "POST", "/projects", body, 422)
    assert refused["error"]["details"][0]["field"] == "body.idle_timeout_minutes"
    assert refused["error"]["message"] == f"invalid body.idle_timeout_minutes: {message}"
    await _call(client, owner, "POST", "/projects", {"name": "demo", "repo": str(git_repo)}, 201)
    workspace = await _call(client, owner, "POST", "/workspaces", {"project": "demo"}, 201)
    for path in ("/projects/demo", f"/workspaces/{workspace['id']}"):
        refused = await _call(client, owner, "PATCH", path, {"idle_timeout_minutes": value}, 422)
        assert refused["error"]["message"] == f"invalid body.idle_timeout_minutes: {message}"


async def test_a_workspace_waiting_for_a_node_or_being_rebuilt_has_no_idle_deadline(
    client: httpx.AsyncClient, owner: ApiUser, git_repo: Path, fleet: Fleet
) -> None:
    await add_project(client, owner, git_repo, idle_timeout_minutes=45)
    waiting = await create(client, owner)
    assert (waiting["idle_timeout_minutes"], waiting["idle_stop_at"]) == (45, None)

    node = await fleet.join("docker", runtimes=[DOCKER])
    await settled(client, owner, waiting["id"], "creating")
    await node.report(waiting["id"], WorkspaceState.RUNNING)
    running = await settled(client, owner, waiting["id"], "running")
    assert running["idle_stop_at"] is not None

    rebuilding = await _call(client, owner, "POST", f"/workspaces/{waiting['id']}/rebuild")
    assert rebuilding["state"] == "rebuilding"
    assert (rebuilding["idle_timeout_minutes"], rebuilding["idle_timeout_source"]) == (
        45,
        "project",
    )
    assert (rebuilding["idle_stop_at"], rebuilding["last_active_at"]) == (None, None)

    await node.report(waiting["id"], WorkspaceState.RUNNING)
    again = await settled(client, owner, waiting["id"], "running")
    at = {
        key: datetime.fromisoformat(again[key])
        for key in ("last_active_at", "state_changed_at", "idle_stop_at")
    }
    # Its idle time starts again when it runs again.
    assert at["last_active_at"] >= at["state_changed_at"]
    assert at["state_changed_at"] > datetime.fromisoformat(running["state_changed_at"])
    assert at["idle_stop_at"] == at["last_active_at"] + timedelta(minutes=45)
