"""Nodes through the API, with no node daemon running: join tokens made again for a node that
has not joined."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api import ApiUser


async def add_node(client: httpx.AsyncClient, owner: ApiUser, name: str) -> dict[str, Any]:
    response = await client.post("/api/v1/nodes", json={"name": name}, headers=owner.headers)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def join(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/v1/nodes/join", json={"join_token": token})


async def test_a_new_join_token_replaces_the_old_one_until_the_node_joins(client, owner):
    created = await add_node(client, owner, "box")
    response = await client.post("/api/v1/nodes/box/join-token", headers=owner.headers)
    assert response.status_code == 201, response.text
    renewed = response.json()
    assert renewed["join_token"] != created["join_token"]
    assert renewed["join_command"].startswith(f"CORRAL_NODE_JOIN_TOKEN={renewed['join_token']} ")
    assert renewed["node"]["state"] == "pending"

    old = await join(client, created["join_token"])
    assert old.status_code == 401
    assert old.json()["error"]["code"] == "join_token_revoked"
    assert "corral node token" in old.json()["error"]["message"]
    listed = await client.get("/api/v1/nodes", headers=owner.headers)
    assert renewed["join_token"] not in listed.text

    assert (await join(client, renewed["join_token"])).status_code == 201
    again = await client.post("/api/v1/nodes/box/join-token", headers=owner.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "node_joined"
    assert "remove it and add it again" in again.json()["error"]["message"]


async def test_only_the_owner_makes_join_tokens(client, owner, other_user):
    await add_node(client, owner, "box")
    response = await client.post("/api/v1/nodes/box/join-token", headers=other_user.headers)
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "only the owner can make join tokens"


async def test_a_join_token_for_an_unknown_node_answers_404(client, owner):
    response = await client.post("/api/v1/nodes/nowhere/join-token", headers=owner.headers)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no node named 'nowhere'"
