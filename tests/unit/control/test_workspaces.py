"""Workspaces through the control plane's services, on nodes in memory: where a new one goes, the
states the node's reports move it through, a node that goes silent, and what a node that links
again says of its workspaces."""

from __future__ import annotations

from datetime import timedelta

import pytest

from corral.control.db.base import utcnow
from corral.control.db.models import Node, Project, User, Workspace
from corral.control.reconcilers import place_workspaces, sweep_stale_nodes
from corral.control.services import workspaces
from corral.control.services.placement import NO_NODE_READY
from corral.control.state import AppState
from corral.errors import Conflict, NotFound, RetryableProviderError
from corral.protocol.messages import GitIdentity, WorkspaceSpec
from corral.states import NodeState, WorkspaceState
from tests.support.memnode import MemoryNode

W = WorkspaceState


async def _create(
    state: AppState,
    owner: User,
    name: str = "ws",
    *,
    node_ref: str | None = None,
    runtime: str | None = None,
) -> Workspace:
    """Make a workspace as the API does, and run the placement pass the API wakes."""
    async with state.db() as db:
        created = await workspaces.create_workspace(
            db,
            owner.id,
            project_ref="app",
            name=name,
            branch=None,
            node_ref=node_ref,
            runtime=runtime,
        )
    assert created.state == W.PENDING
    await place_workspaces(state)
    return await _get(state, owner, created.id)


async def _get(state: AppState, owner: User, ref: str) -> Workspace:
    async with state.db() as db:
        return await workspaces.get_workspace(db, owner.id, ref)


async def _node_state(state: AppState, node: MemoryNode) -> NodeState:
    async with state.db() as db:
        row = await db.get(Node, node.id)
        assert row is not None
        return row.state


# -- placing (the rules themselves: test_placement.py) ---------------------------------------------


async def test_a_new_workspace_goes_to_the_linked_node_holding_the_fewest(
    state: AppState, owner: User, project: Project
) -> None:
    busy = await MemoryNode.join(state, owner, "busy")
    idle = await MemoryNode.join(state, owner, "idle")
    gone = await MemoryNode.join(state, owner, "gone")
    try:
        first = await _create(state, owner, "first", node_ref="busy")
        assert first.node_id == busy.id
        await gone.unlink()  # still `ready` until it misses its heartbeats, but not linked
        created = await _create(state, owner)
        assert created.state == W.CREATING
        assert created.node_id == idle.id
        assert created.runtime == "host"
        (spec,) = idle.sent("workspace.create")
        # Its commits are the user's: without a GitHub account, by their Corral name.
        identity = GitIdentity(name=owner.name, email=f"{owner.name}@users.noreply.corral.invalid")
        assert spec == WorkspaceSpec(
            id=created.id,
            name="ws",
            repo=project.repo,
            branch="main",
            runtime="host",
            identity=identity,
        )
        assert gone.sent("workspace.create") == []
    finally:
        for node in (busy, idle, gone):
            await node.close()


async def test_a_named_node_that_is_not_ready_keeps_the_workspace_waiting(
    state: AppState, owner: User, project: Project, node: MemoryNode
) -> None:
    later = await MemoryNode.join(state, owner, "later", link=False)
    try:
        waiting = await _create(state, owner, node_ref="later")
        assert (waiting.state, waiting.state_reason) == (
            W.PENDING,
            "node later is joining, not ready",
        )
        assert waiting.node_id == later.id
        assert node.sent("workspace.create") == []  # not put anywhere else

        await later.link()
        await place_workspaces(state)
        placed = await _get(state, owner, "ws")
        assert (placed.state, placed.node_id) == (W.CREATING, later.id)
    finally:
        await later.close()


async def test_a_named_node_must_exist(state: AppState, owner: User, project: Project) -> None:
    with pytest.raises(NotFound, match="no node named 'nowhere'"):
        await _create(state, owner, node_ref="nowhere")


async def test_with_no_linked_node_the_workspace_waits_saying_how_to_get_one(
    state: AppState, owner: User, project: Project
) -> None:
    waiting = await _create(state, owner)
    assert waiting.state == W.PENDING
    assert waiting.state_reason == NO_NODE_READY


async def test_a_pending_workspace_has_no_terminals_yet_and_says_why(
    state: AppState, owner: User, project: Project
) -> None:
    await _create(state, owner)
    async with state.db() as db:
        with pytest.raises(Conflict) as refused:
            await workspaces.running_with_link(db, state.node_registry, owner.id, "ws")
    assert refused.value.message == f"workspace ws is pending, not running: {NO_NODE_READY}"


async def test_a_pending_workspace_can_be_deleted(
    state: AppState, owner: User, project: Project
) -> None:
    await _create(state, owner)
    async with state.db() as db:
        await workspaces.delete_workspace(db, state.node_registry, owner.id, "ws")
    with pytest.raises(NotFound):
        await _get(state, owner, "ws")
    node = await MemoryNode.join(state, owner, "n1")
    try:
        assert await place_workspaces(state) == 0
        assert node.sent("workspace.create") == []
    finally:
        await node.close()


async def test_a_workspace_name_is_unique_per_user(
    state: AppState, owner: User, project: Project, node: MemoryNode
) -> None:
    await _create(state, owner)
    with pytest.raises(Conflict, match="a workspace named 'ws' exists already"):
        await _create(state, owner)


# -- states from the node ------------------------------------------------------------------------


async def test_the_clone_reported_by_the_node_makes_the_workspace_running(
    state: AppState, owner: User, project: Project, node: MemoryNode
) -> None:
    created = await _create(state, owner)
    await node.progress(created.id, "Cloning into 'ws'...")
    await node.report(created.id, W.RUNNING)
    assert (await _get(state, owner, "ws")).state == W.RUNNING
    assert state.provisioning_logs.lines(node.id, created.id) == ["Cloning into 'ws'..."]


async def test_a_failed_clone_leaves_the_workspace_in_error_with_the_nodes_reason(
    state: AppState, owner: User, project: Project, node: MemoryNode
) -> None:
    created = await _create(state, owner)
    await node.report(created.id, W.ERROR, "git clone failed: repository not found")
    failed = await _get(state, owner, created.id)
    assert (failed.state, failed.state_reason) == (
        W.ERROR,
        "git clone failed: repository not found",
    )


async def test_a_create_the_node_refuses_leaves_the_workspace_in_error(
    state: AppState, owner: User, project: Project, node: MemoryNode
) -> None:
    node.fail("workspace.create", Conflict("the node's disk is full"))
    failed = await _create(state, owner)
    assert (failed.state, failed.state_reason) == (W.ERROR, "the node's disk is full")


async def test_stop_start_and_delete_go_through_the_node(
    state: AppState, owner: User, project: Project, node: MemoryNode
) -> None:
    created = await _create(state, owner)
    await node.report(created.id, W.RUNNING)
    async with state.db() as db:
        stopped = await workspaces.stop_workspace(db, state.node_registry, owner.id, "ws")
    assert stopped.state == W.STOPPED
    async with state.db() as db:
        started = await workspaces.start_workspace(db, state.node_registry, owner.id, "ws")
    assert started.state == W.RUNNING
    async with state.db() as db:
        await workspaces.delete_workspace(db, state.node_registry, owner.id, "ws")
    assert [m for m, _ in node.requests if m.startswith("workspace.")][-3:] == [
        "workspace.stop",
        "workspace.start",
        "workspace.delete",
    ]
    with pytest.raises(NotFound, match="no workspace named 'ws'"):
        await _get(state, owner, "ws")
    assert (await _create(state, owner)).name == "ws"  # the name is free again


async def test_a_node_cannot_move_another_nodes_workspace(
    state: AppState, owner: User, project: Project, node: MemoryNode
) -> None:
    created = await _create(state, owner)
    other = await MemoryNode.join(state, owner, "n2")
    try:
        await other.report(created.id, W.ERROR, "not yours")
    finally:
        await other.close()
    assert (await _get(state, owner, "ws")).state == W.CREATING


# -- a node that goes silent, and comes back -----------------------------------------------------


async def _silent_for(state: AppState, node: MemoryNode, seconds: float) -> None:
    async with state.db() as db:
        row = await db.get(Node, node.id)
        assert row is not None
        row.last_seen_at = utcnow() - timedelta(seconds=seconds)
        await db.commit()


async def test_a_node_that_misses_its_heartbeats_leaves_its_workspaces_unreachable(
    state: AppState, owner: User, project: Project, node: MemoryNode
) -> None:
    created = await _create(state, owner)
    await node.report(created.id, W.RUNNING)
    await _silent_for(state, node, 3600)
    assert await sweep_stale_nodes(state) == 1
    assert await _node_state(state, node) == NodeState.STALE
    unreachable = await _get(state, owner, "ws")
    assert (unreachable.state, unreachable.state_reason) == (
        W.ERROR,
        "node n1 is not reachable (stale)",
    )
    waiting = await _create(state, owner, "other", node_ref="n1")
    assert (waiting.state, waiting.state_reason) == (W.PENDING, "node n1 is stale, not ready")

    await node.heartbeat()  # it was only slow: it is ready again, and says what it has
    assert await _node_state(state, node) == NodeState.READY
    assert (await _get(state, owner, "ws")).state == W.RUNNING


async def test_a_node_heard_from_recently_is_not_stale(
    state: AppState, owner: User, node: MemoryNode
) -> None:
    await node.heartbeat()
    assert await sweep_stale_nodes(state) == 0
    assert await _node_state(state, node) == NodeState.READY


async def test_a_node_that_links_again_says_what_became_of_its_workspaces(
    state: AppState, owner: User, project: Project, node: MemoryNode
) -> None:
    kept = await _create(state, owner, "kept")
    lost = await _create(state, owner, "lost")
    doomed = await _create(state, owner, "doomed")
    for workspace in (kept, lost, doomed):
        await node.report(workspace.id, W.RUNNING)
    # The delete reaches the node, but the link drops before its answer comes back.
    node.fail("workspace.delete", RetryableProviderError("the link dropped"))
    async with state.db() as db:
        with pytest.raises(RetryableProviderError):
            await workspaces.delete_workspace(db, state.node_registry, owner.id, "doomed")
    await node.unlink()
    del node.workspaces[doomed.id]
    del node.workspaces[lost.id]  # its directory was removed by hand, say

    await node.link()
    assert (await _get(state, owner, "kept")).state == W.RUNNING
    gone = await _get(state, owner, "lost")
    assert (gone.state, gone.state_reason) == (W.ERROR, "the node no longer has this workspace")
    with pytest.raises(NotFound):
        await _get(state, owner, "doomed")


async def test_a_second_link_of_a_node_replaces_the_first(
    state: AppState, owner: User, node: MemoryNode
) -> None:
    again = MemoryNode(state, node.node)
    await again.link()
    try:
        assert node.closed_with == (1000, "the node linked again")
        assert state.node_registry.connection(node.id) is not None
        assert not node.linked and again.linked
    finally:
        await again.close()
