"""Where a pending workspace goes: a choice among nodes, made from what the nodes report and what
the workspace asks for, as a pure function (`choose`), so every rule can be tested without a
database or a node. `services/placing.py` applies it to the pending workspaces.

A node can take a workspace when it is ready and linked, offers the runtime (for `auto`:
devcontainer where it works there, else host, else the node's first runtime that works), holds
fewer workspaces than the per-node limit, and has room: the CPUs and memory the workspace
requests fit in what the node offers its workspaces (`allocatable_*`) less what its live
workspaces requested, and the memory also in what the machine has free right now. A workspace
requests its limits, or the runtime's defaults where it left them unset; a runtime that cannot
enforce limits (`limits: false`, `host` today) gets no defaults, so its workspaces request
nothing unless limits were asked for. Among the nodes with room, the one holding the fewest
workspaces wins, then the one with the most CPUs and memory left.

When no node can take it, the workspace waits with a reason written for its user, taken from
the nodes that came closest ("no node has 2 CPUs free" rather than "node b does not offer
devcontainer" when node a only lacked room).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from enum import IntEnum

from corral.protocol.messages import RuntimeInfo, WorkspaceLimits
from corral.sizes import format_bytes, format_cpus
from corral.states import NodeState

__all__ = [
    "NO_NODE_READY",
    "Ask",
    "NodeOffer",
    "Placement",
    "Unplaced",
    "choose",
    "pick_runtime",
    "resolve_limits",
    "user_at_limit",
]

NO_NODE_READY = "no node is ready: start Corral with `corral up`, or add one with `corral node add`"
_AUTO_ORDER = ("devcontainer", "host")
_EPSILON = 1e-9


@dataclass(frozen=True)
class NodeOffer:
    """A node as placement sees it: its state, its runtimes and its room."""

    id: str
    name: str
    state: NodeState
    linked: bool
    """Linked to this control plane process, which can send it the workspace."""
    reported: bool
    """Has sent a heartbeat: its runtimes and capacity are known."""
    runtimes: tuple[RuntimeInfo, ...] = ()
    cpus: float = 0.0
    """CPUs it offers workspaces."""
    memory_bytes: int = 0
    """Memory it offers workspaces."""
    free_memory_bytes: int = 0
    """Memory the machine has free now, from its last heartbeat."""
    held_cpus: float = 0.0
    """CPUs its live workspaces requested."""
    held_memory_bytes: int = 0
    workspaces: int = 0
    """Workspaces it holds, stopped ones and those in error included."""
    private_to: str | None = None
    """The user whose own node it is (a member's cloud machine or SSH server); None for the
    nodes the owner shares with everyone."""

    @property
    def free_cpus(self) -> float:
        return self.cpus - self.held_cpus

    @property
    def room_memory_bytes(self) -> int:
        return min(self.memory_bytes - self.held_memory_bytes, self.free_memory_bytes)

    def holding(self, placement: Placement) -> NodeOffer:
        """The node once `placement` is on it (for the next choice in the same pass)."""
        return dataclasses.replace(
            self,
            held_cpus=self.held_cpus + placement.cpus,
            held_memory_bytes=self.held_memory_bytes + placement.memory_bytes,
            free_memory_bytes=self.free_memory_bytes - placement.memory_bytes,
            workspaces=self.workspaces + 1,
        )


@dataclass(frozen=True)
class Ask:
    """What a pending workspace asks for."""

    runtime: str | None = None
    """A runtime's name, or None for auto."""
    limits: WorkspaceLimits = dataclasses.field(default_factory=WorkspaceLimits)
    """Its project's limits; None fields take the runtime's defaults."""
    node_id: str | None = None
    """The node it must go to, when its user named one."""
    user_id: str | None = None
    """Whose workspace it is: only they may use their own nodes."""


@dataclass(frozen=True)
class Placement:
    node: NodeOffer
    runtime: str
    limits: WorkspaceLimits
    """What it asked for, with the runtime's defaults filled in where the runtime enforces them."""

    @property
    def cpus(self) -> float:
        return self.limits.cpus or 0.0

    @property
    def memory_bytes(self) -> int:
        return self.limits.memory_bytes or 0


@dataclass(frozen=True)
class Unplaced:
    reason: str
    """Why it waits, for its user."""


class _Stage(IntEnum):
    """How far a node got towards taking the workspace; the reason comes from the furthest."""

    NOT_READY = 0
    NO_RUNTIME = 1
    RUNTIME_BROKEN = 2
    FULL = 3
    NO_ROOM = 4


@dataclass(frozen=True)
class _Miss:
    stage: _Stage
    why: str
    """The node's own sentence, told when it was the node asked for."""
    problem: str = ""
    """For a runtime that does not work there: the node's words."""
    short: tuple[str, ...] = ()
    """For a node without room: what it lacks (`2 CPUs`, `2 GiB of memory`)."""


def pick_runtime(asked: str | None, offered: tuple[RuntimeInfo, ...]) -> RuntimeInfo | None:
    """The runtime `asked` (None: auto) among `offered` if it works there, else None."""
    if asked is not None:
        found = [runtime for runtime in offered if runtime.name == asked and runtime.available]
        return found[0] if found else None
    preferred = [r for name in _AUTO_ORDER for r in offered if r.name == name]
    return next((runtime for runtime in (*preferred, *offered) if runtime.available), None)


def _runtime_miss(asked: str | None, node: NodeOffer) -> _Miss:
    """Why none of `node`'s runtimes will do."""
    problems = "; ".join(
        f"{runtime.name}: {runtime.problem or 'not available'}"
        for runtime in node.runtimes
        if asked is None or runtime.name == asked
    )
    if asked is None:
        return _Miss(
            _Stage.RUNTIME_BROKEN,
            f"node {node.name} has no runtime it can run now ({problems or 'it reports none'})",
            problem=f"{node.name}: {problems or 'no runtimes'}",
        )
    if not any(runtime.name == asked for runtime in node.runtimes):
        listed = ", ".join(sorted(runtime.name for runtime in node.runtimes)) or "none"
        return _Miss(
            _Stage.NO_RUNTIME,
            f"node {node.name} does not offer the {asked} runtime (it offers: {listed})",
        )
    return _Miss(
        _Stage.RUNTIME_BROKEN,
        f"node {node.name} cannot run the {asked} runtime now ({problems})",
        problem=f"{node.name}: {problems.partition(': ')[2]}",
    )


def resolve_limits(asked: WorkspaceLimits, runtime: RuntimeInfo) -> WorkspaceLimits:
    """`asked`, with `runtime`'s defaults where it left a limit unset and the runtime enforces
    limits; a runtime that cannot gets no defaults, so asks for nothing more."""
    if not runtime.limits:
        return asked
    defaults = runtime.default_limits.model_dump(exclude_none=True)
    return WorkspaceLimits(**{**defaults, **asked.model_dump(exclude_none=True)})


def _try(ask: Ask, node: NodeOffer, max_workspaces: int | None) -> Placement | _Miss:
    name = f"node {node.name}"
    if node.state != NodeState.READY:
        return _Miss(_Stage.NOT_READY, f"{name} is {node.state.value}, not ready")
    if not node.linked:
        return _Miss(_Stage.NOT_READY, f"{name} is not linked to the control plane")
    if not node.reported:
        return _Miss(_Stage.NOT_READY, f"{name} has not reported what it has yet")
    runtime = pick_runtime(ask.runtime, node.runtimes)
    if runtime is None:
        return _runtime_miss(ask.runtime, node)
    if max_workspaces is not None and node.workspaces >= max_workspaces:
        return _Miss(
            _Stage.FULL,
            f"{name} has {node.workspaces} workspaces, the most allowed on one node",
        )
    placement = Placement(node, runtime.name, resolve_limits(ask.limits, runtime))
    short = []
    if placement.cpus > 0 and placement.cpus > node.free_cpus + _EPSILON:
        short.append(format_cpus(placement.cpus))
    if placement.memory_bytes > 0 and placement.memory_bytes > node.room_memory_bytes:
        short.append(f"{format_bytes(placement.memory_bytes)} of memory")
    if short:
        has = (
            f"{format_cpus(max(node.free_cpus, 0))} and "
            f"{format_bytes(max(node.room_memory_bytes, 0))} free"
        )
        return _Miss(
            _Stage.NO_ROOM,
            f"{name} does not have {' and '.join(short)} free (it has {has})",
            short=tuple(short),
        )
    return placement


def _reason(ask: Ask, misses: list[_Miss], max_workspaces: int | None) -> str:
    """One sentence for a workspace no node can take now, from the nodes that came closest."""
    furthest = max((miss.stage for miss in misses), default=_Stage.NOT_READY)
    closest = [miss for miss in misses if miss.stage == furthest]
    if furthest == _Stage.NOT_READY:
        return NO_NODE_READY
    if furthest == _Stage.NO_RUNTIME:
        return f"no ready node offers the {ask.runtime} runtime"
    if furthest == _Stage.RUNTIME_BROKEN:
        problems = "; ".join(miss.problem for miss in closest)
        what = f"the {ask.runtime} runtime" if ask.runtime else "a runtime"
        return f"no ready node can run {what} now ({problems})"
    if furthest == _Stage.FULL:
        return f"every ready node has the most workspaces allowed on one node ({max_workspaces})"
    lacking = sorted({item for miss in closest for item in miss.short}, key=_cpus_first)
    return f"no node has {' and '.join(lacking)} free"


def _cpus_first(item: str) -> tuple[bool, str]:
    return ("CPU" not in item, item)


def _spread(placement: Placement) -> tuple[int, float, int, str]:
    node = placement.node
    return (
        node.workspaces,
        -(node.free_cpus - placement.cpus),
        -(node.room_memory_bytes - placement.memory_bytes),
        node.name,
    )


def choose(
    ask: Ask, nodes: list[NodeOffer], *, max_workspaces_per_node: int | None = None
) -> Placement | Unplaced:
    """The node (with the runtime and limits) that takes the workspace, or why none can now."""
    nodes = [node for node in nodes if node.private_to in (None, ask.user_id)]
    if ask.node_id is not None:
        named = [node for node in nodes if node.id == ask.node_id]
        if not named:
            return Unplaced("the node it was asked for has been removed")
        outcome = _try(ask, named[0], max_workspaces_per_node)
        return outcome if isinstance(outcome, Placement) else Unplaced(outcome.why)
    outcomes = [_try(ask, node, max_workspaces_per_node) for node in nodes]
    fits = [outcome for outcome in outcomes if isinstance(outcome, Placement)]
    if fits:
        return min(fits, key=_spread)
    misses = [outcome for outcome in outcomes if isinstance(outcome, _Miss)]
    return Unplaced(_reason(ask, misses, max_workspaces_per_node))


def user_at_limit(running: int, most: int | None) -> Unplaced | None:
    """Why a user's workspace cannot run now, if they have the most running workspaces
    allowed (`placement.max_running_workspaces_per_user`)."""
    if most is None or running < most:
        return None
    noun = "workspace" if running == 1 else "workspaces"
    return Unplaced(f"you have {running} running {noun}, the most allowed")
