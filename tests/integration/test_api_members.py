"""What a member (a user the owner invited) is refused, and what they see of shared nodes."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from corral.control.db.models import AgentSession, Workspace
from corral.control.services import nodes
from corral.control.state import AppState
from corral.ids import new_id
from corral.protocol.messages import NodeHeartbeat
from corral.states import SessionState, WorkspaceState
from tests.support.api import ApiUser

HEARTBEAT = NodeHeartbeat(
    cpus=4,
    memory_total_bytes=8 * 2**30,
    memory_used_bytes=2 * 2**30,
    disk_total_bytes=100 * 2**30,
    disk_used_bytes=10 * 2**30,
    load1=0.5,
    workspaces=3,
    terminals=5,
    node_version="0.0.0",
    sessions=2,
    agents=["@example/agent@1.0.0"],
)


@pytest.mark.parametrize(
    ("method", "path", "body", "message"),
    [
        ("POST", "/api/v1/nodes", {"name": "members-node"}, "only the owner can add nodes"),
        (
            "DELETE",
            "/api/v1/nodes/shared-node",
            None,
            "only the owner can remove other people's nodes",
        ),
        ("GET", "/api/v1/users", None, "only the owner can list users"),
        ("POST", "/api/v1/users/invites", {"name": "bob"}, "only the owner can invite users"),
        ("GET", "/api/v1/users/invites", None, "only the owner can list invites"),
        (
            "DELETE",
            "/api/v1/users/invites/lnk_00000000000000000000000000",
            None,
            "only the owner can revoke invites",
        ),
    ],
)
async def test_owner_only_refusals_name_what_was_refused(
    client, owner, other_user, method, path, body, message
):
    created = await client.post(
        "/api/v1/nodes", json={"name": "shared-node"}, headers=owner.headers
    )
    assert created.status_code == 201, created.text
    response = await client.request(method, path, json=body, headers=other_user.headers)
    assert response.status_code == 403, response.text
    assert response.json()["error"] == {
        "code": "owner_only",
        "message": message,
        "details": None,
    }


async def place(
    app: FastAPI, user: ApiUser, node_id: str, name: str, session: SessionState | None
) -> None:
    """A workspace of `user` on the node (and a session in it), as the node would have reported
    them; no node is linked in these tests."""
    state: AppState = app.state.corral
    async with state.db() as db:
        workspace_id = new_id("wsp")
        db.add(
            Workspace(
                id=workspace_id,
                user_id=user.id,
                node_id=node_id,
                name=name,
                branch="main",
                runtime="host",
                state=WorkspaceState.RUNNING,
            )
        )
        if session is not None:
            await db.flush()
            db.add(
                AgentSession(
                    id=new_id("ses"),
                    user_id=user.id,
                    workspace_id=workspace_id,
                    agent="claude",
                    state=session,
                    last_seq=0,
                )
            )
        await db.commit()


async def test_a_member_sees_only_their_own_usage_on_a_shared_node(app, client, owner, other_user):
    created = await client.post("/api/v1/nodes", json={"name": "shared"}, headers=owner.headers)
    node_id = created.json()["node"]["id"]
    await place(app, owner, node_id, "owners-1", SessionState.RUNNING)
    await place(app, owner, node_id, "owners-2", SessionState.IDLE)
    await place(app, other_user, node_id, "members-1", SessionState.AWAITING_PERMISSION)
    await place(app, other_user, node_id, "members-2", SessionState.STOPPED)
    state: AppState = app.state.corral
    async with state.db() as db:
        await nodes.heartbeat(db, node_id, HEARTBEAT)

    seen_by_owner = (await client.get(f"/api/v1/nodes/{node_id}", headers=owner.headers)).json()
    assert seen_by_owner["usage"]["workspaces"] == 3
    assert seen_by_owner["usage"]["terminals"] == 5
    assert seen_by_owner["usage"]["sessions"] == 2

    for response in (
        await client.get(f"/api/v1/nodes/{node_id}", headers=other_user.headers),
        await client.get("/api/v1/nodes", headers=other_user.headers),
    ):
        assert response.status_code == 200, response.text
        body = response.json()
        usage = (body["items"][0] if "items" in body else body)["usage"]
        assert usage == {
            "memory_bytes": 2 * 2**30,
            "disk_bytes": 10 * 2**30,
            "load1": 0.5,
            "agents": ["@example/agent@1.0.0"],
            "workspaces": 2,
            "sessions": 1,
        }
