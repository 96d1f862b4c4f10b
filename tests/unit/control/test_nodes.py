"""Nodes through the control plane's services, with nodes in memory: joining and linking, what a
heartbeat tells, going stale and coming back, and a node the owner removes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from corral.control.db.base import utcnow
from corral.control.db.models import Node, User
from corral.control.services import nodes
from corral.control.state import AppState
from corral.errors import Unauthenticated
from corral.protocol.messages import NodeIsolation, RuntimeInfo
from corral.states import NodeState
from tests.support.memnode import NODE_VERSION, MemoryNode


async def _row(state: AppState, node: MemoryNode) -> Node:
    async with state.db() as db:
        return await nodes.get_node(db, node.id)


async def test_a_joined_node_is_ready_once_it_links(state: AppState, owner: User) -> None:
    node = await MemoryNode.join(state, owner, "n1", link=False)
    try:
        joined = await _row(state, node)
        assert joined.state == NodeState.JOINING
        assert not state.node_registry.is_connected(node.id)
        await node.link()
        linked = await _row(state, node)
        assert (linked.state, linked.version) == (NodeState.READY, NODE_VERSION)
        assert linked.last_seen_at is not None
        assert state.node_registry.is_connected(node.id)
        # Linking reconciles: the control plane asked what the node runs.
        assert [m for m, _ in node.requests] == ["workspace.list", "session.list"]
    finally:
        await node.close()
    assert not state.node_registry.is_connected(node.id)


async def test_a_heartbeat_records_what_the_node_has_and_uses(
    state: AppState, node: MemoryNode
) -> None:
    await node.heartbeat(
        cpus=16,
        memory_used_bytes=3 << 30,
        load1=2.5,
        sessions=2,
        agents=["@scope/agent@1.2.3"],
        isolation=NodeIsolation(sandbox="bwrap", user="user_namespace", network="isolated"),
    )
    row = await _row(state, node)
    assert row.capacity["cpus"] == 16
    assert row.capacity["isolation"]["sandbox"] == "bwrap"
    assert row.usage["memory_bytes"] == 3 << 30
    assert (row.usage["load1"], row.usage["sessions"]) == (2.5, 2)
    assert row.usage["agents"] == ["@scope/agent@1.2.3"]


async def test_a_heartbeat_records_the_runtimes_and_what_the_node_offers_workspaces(
    state: AppState, node: MemoryNode
) -> None:
    docker = RuntimeInfo(name="devcontainer", available=False, problem="Docker is not running")
    await node.heartbeat(cpus=8, runtimes=[docker, RuntimeInfo(name="host")])
    row = await _row(state, node)
    assert [(r["name"], r["available"], r["problem"]) for r in row.capacity["runtimes"]] == [
        ("devcontainer", False, "Docker is not running"),
        ("host", True, None),
    ]
    # Unless the node keeps some back, it offers workspaces all it has.
    assert (row.capacity["allocatable_cpus"], row.capacity["allocatable_memory_bytes"]) == (
        8,
        8 << 30,
    )
    await node.heartbeat(allocatable_cpus=6.5, allocatable_memory_bytes=4 << 30)
    row = await _row(state, node)
    assert (row.capacity["allocatable_cpus"], row.capacity["allocatable_memory_bytes"]) == (
        6.5,
        4 << 30,
    )


async def test_a_silent_node_goes_stale_and_a_heartbeat_makes_it_ready(
    state: AppState, node: MemoryNode
) -> None:
    async with state.db() as db:
        stale = await nodes.mark_stale_nodes(db, silent_since=utcnow() + timedelta(seconds=1))
    assert [n.name for n in stale] == ["n1"]
    assert (await _row(state, node)).state == NodeState.STALE
    reconciles = len(node.sent("workspace.list"))
    await node.heartbeat()
    assert (await _row(state, node)).state == NodeState.READY
    assert len(node.sent("workspace.list")) == reconciles + 1  # it took the node's word again


async def test_a_removed_nodes_credential_stops_working(
    state: AppState, owner: User, node: MemoryNode
) -> None:
    async with state.db() as db:
        node2, token = await nodes.create_node(db, owner, "n2", provider="manual", ttl_seconds=60)
        _, credential = await nodes.join_node(db, token)
        assert (await nodes.authenticate_node(db, credential)).id == node2.id
        await nodes.delete_node(db, owner, "n2")
        with pytest.raises(Unauthenticated, match="the node credential is not valid"):
            await nodes.authenticate_node(db, credential)
