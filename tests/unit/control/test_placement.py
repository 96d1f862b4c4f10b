"""The placement decision on its own: which node takes a workspace, with which runtime and
limits, and the reason its user reads while no node can."""

from __future__ import annotations

from typing import Any

from corral.control.services.placement import (
    NO_NODE_READY,
    Ask,
    NodeOffer,
    Placement,
    Unplaced,
    choose,
    user_at_limit,
)
from corral.protocol.messages import RuntimeInfo, WorkspaceLimits
from corral.states import NodeState

GIB = 1 << 30
HOST = RuntimeInfo(name="host")
DEVCONTAINER = RuntimeInfo(
    name="devcontainer",
    limits=True,
    default_limits=WorkspaceLimits(cpus=1, memory_bytes=2 * GIB, pids=1024),
)
NO_DOCKER = DEVCONTAINER.model_copy(update={"available": False, "problem": "Docker is not running"})


def node(name: str, **fields: Any) -> NodeOffer:
    """A ready, linked node with 4 CPUs and 8 GiB, all free, offering host."""
    defaults: dict[str, Any] = {
        "id": f"nod_{name}",
        "name": name,
        "state": NodeState.READY,
        "linked": True,
        "reported": True,
        "runtimes": (HOST,),
        "cpus": 4.0,
        "memory_bytes": 8 * GIB,
        "free_memory_bytes": 8 * GIB,
    }
    return NodeOffer(**{**defaults, **fields})


def asking(cpus: float | None = None, memory_gib: float | None = None, **fields: Any) -> Ask:
    memory = int(memory_gib * GIB) if memory_gib is not None else None
    return Ask(limits=WorkspaceLimits(cpus=cpus, memory_bytes=memory), **fields)


def placed(outcome: Placement | Unplaced) -> Placement:
    assert isinstance(outcome, Placement), outcome
    return outcome


def reason(outcome: Placement | Unplaced) -> str:
    assert isinstance(outcome, Unplaced), outcome
    return outcome.reason


# -- room ------------------------------------------------------------------------------------------


def test_the_node_with_room_takes_it() -> None:
    full = node("full", held_cpus=3.0)
    roomy = node("roomy")
    choice = placed(choose(asking(cpus=2), [full, roomy]))
    assert (choice.node.name, choice.runtime, choice.cpus) == ("roomy", "host", 2)


def test_without_room_anywhere_it_waits_saying_what_no_node_has() -> None:
    nodes = [node("a", held_cpus=3.0), node("b", cpus=1.0)]
    assert reason(choose(asking(cpus=2), nodes)) == "no node has 2 CPUs free"
    assert reason(choose(asking(memory_gib=16), nodes)) == "no node has 16 GiB of memory free"
    short_of_each = [node("a", held_cpus=3.0), node("b", held_memory_bytes=7 * GIB)]
    assert (
        reason(choose(asking(cpus=2, memory_gib=2), short_of_each))
        == "no node has 2 CPUs and 2 GiB of memory free"
    )


def test_memory_must_be_free_on_the_machine_too() -> None:
    # Nothing is reserved on it, but something outside Corral uses most of its memory.
    busy = node("busy", free_memory_bytes=1 * GIB)
    assert reason(choose(asking(memory_gib=2), [busy])) == "no node has 2 GiB of memory free"
    assert placed(choose(asking(memory_gib=1), [busy])).node is busy


def test_among_nodes_with_room_the_one_holding_fewest_workspaces_then_most_free_wins() -> None:
    nodes = [node("crowded", workspaces=3), node("small", cpus=2.0), node("big", cpus=8.0)]
    assert placed(choose(asking(cpus=1), nodes)).node.name == "big"
    nodes = [node("a", workspaces=2), node("b", workspaces=1, cpus=2.0)]
    assert placed(choose(asking(cpus=1), nodes)).node.name == "b"


def test_what_a_placement_takes_counts_for_the_next_one() -> None:
    only = node("only", cpus=3.0)
    first = placed(choose(asking(cpus=2), [only]))
    after = only.holding(first)
    assert (after.held_cpus, after.workspaces) == (2.0, 1)
    assert reason(choose(asking(cpus=2), [after])) == "no node has 2 CPUs free"


def test_a_workspace_on_a_runtime_without_limits_asks_for_nothing_unless_told() -> None:
    full = node("full", held_cpus=4.0, held_memory_bytes=8 * GIB, free_memory_bytes=0)
    choice = placed(choose(Ask(), [full]))
    assert (choice.limits, choice.cpus, choice.memory_bytes) == (WorkspaceLimits(), 0.0, 0)
    # Limits the project set count on any runtime, enforced or not.
    assert reason(choose(asking(cpus=1), [full])) == "no node has 1 CPU free"


# -- runtimes --------------------------------------------------------------------------------------


def test_auto_takes_devcontainer_where_it_works_with_its_default_limits() -> None:
    choice = placed(choose(Ask(), [node("docker", runtimes=(HOST, DEVCONTAINER))]))
    assert choice.runtime == "devcontainer"
    assert choice.limits == WorkspaceLimits(cpus=1, memory_bytes=2 * GIB, pids=1024)
    own = placed(choose(asking(cpus=2), [node("docker", runtimes=(DEVCONTAINER, HOST))]))
    assert own.limits == WorkspaceLimits(cpus=2, memory_bytes=2 * GIB, pids=1024)


def test_auto_falls_back_to_host_where_docker_does_not_work() -> None:
    choice = placed(choose(Ask(), [node("plain", runtimes=(NO_DOCKER, HOST))]))
    assert (choice.runtime, choice.limits) == ("host", WorkspaceLimits())


def test_auto_takes_the_nodes_own_runtime_when_it_has_neither() -> None:
    fake = RuntimeInfo(name="fake")
    assert placed(choose(Ask(), [node("test", runtimes=(fake,))])).runtime == "fake"
    broken = (NO_DOCKER,)
    assert (
        reason(choose(Ask(), [node("n1", runtimes=broken)]))
        == "no ready node can run a runtime now (n1: devcontainer: Docker is not running)"
    )


def test_a_runtime_asked_for_by_name_must_be_offered_and_working() -> None:
    nodes = [node("a"), node("b")]
    assert (
        reason(choose(Ask(runtime="devcontainer"), nodes))
        == "no ready node offers the devcontainer runtime"
    )
    nodes = [node("a"), node("b", runtimes=(HOST, NO_DOCKER))]
    assert reason(choose(Ask(runtime="devcontainer"), nodes)) == (
        "no ready node can run the devcontainer runtime now (b: Docker is not running)"
    )
    assert (
        placed(choose(Ask(runtime="host"), [node("b", runtimes=(DEVCONTAINER, HOST))])).runtime
        == "host"
    )


def test_the_reason_comes_from_the_node_that_came_closest() -> None:
    nodes = [node("plain"), node("docker", runtimes=(DEVCONTAINER,), held_cpus=4.0)]
    assert reason(choose(Ask(runtime="devcontainer"), nodes)) == "no node has 1 CPU free"


# -- nodes that cannot take anything ---------------------------------------------------------------


def test_nodes_that_are_not_ready_linked_and_reported_take_nothing() -> None:
    nodes = [
        node("stale", state=NodeState.STALE),
        node("elsewhere", linked=False),
        node("new", reported=False),
    ]
    assert reason(choose(Ask(), nodes)) == NO_NODE_READY
    assert reason(choose(Ask(), [])) == NO_NODE_READY


def test_a_named_node_says_why_it_cannot_take_it() -> None:
    def why(offer: NodeOffer, ask: Ask | None = None) -> str:
        return reason(choose(ask or Ask(node_id=offer.id), [node("other"), offer]))

    assert why(node("n1", state=NodeState.STALE)) == "node n1 is stale, not ready"
    assert why(node("n1", linked=False)) == "node n1 is not linked to the control plane"
    assert why(node("n1", reported=False)) == "node n1 has not reported what it has yet"
    assert why(node("n1"), Ask(runtime="devcontainer", node_id="nod_n1")) == (
        "node n1 does not offer the devcontainer runtime (it offers: host)"
    )
    assert why(node("n1", held_cpus=3.5), asking(cpus=2, node_id="nod_n1")) == (
        "node n1 does not have 2 CPUs free (it has 0.5 CPUs and 8 GiB free)"
    )
    assert reason(choose(Ask(node_id="nod_gone"), [node("n1")])) == (
        "the node it was asked for has been removed"
    )


def test_a_named_node_with_room_takes_it_over_a_roomier_one() -> None:
    named = node("named", workspaces=5)
    assert placed(choose(Ask(node_id=named.id), [node("empty"), named])).node is named


def test_a_node_holding_the_most_workspaces_allowed_takes_no_more() -> None:
    nodes = [node("a", workspaces=2), node("b", workspaces=3)]
    assert reason(choose(Ask(), nodes, max_workspaces_per_node=2)) == (
        "every ready node has the most workspaces allowed on one node (2)"
    )
    assert placed(choose(Ask(), [*nodes, node("c", workspaces=1)], max_workspaces_per_node=2))
    assert reason(choose(Ask(node_id="nod_a"), nodes, max_workspaces_per_node=2)) == (
        "node a has 2 workspaces, the most allowed on one node"
    )


def test_a_user_with_the_most_running_workspaces_allowed_waits() -> None:
    assert user_at_limit(9, 10) is None
    assert user_at_limit(5, None) is None
    limited = user_at_limit(10, 10)
    assert limited == Unplaced("you have 10 running workspaces, the most allowed")
    assert user_at_limit(1, 1) == Unplaced("you have 1 running workspace, the most allowed")
