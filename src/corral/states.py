"""The life cycles of nodes, workspaces and agent sessions, as DESIGN.md draws them.

Each state enum's values are the design's words. `ensure_transition` is the one place that says
which moves are legal, so services cannot drift apart on it; an illegal move raises `Conflict`
naming the states the object would have to be in.
"""

from __future__ import annotations

from enum import StrEnum

from corral.errors import Conflict

__all__ = [
    "LIVE_SESSION_STATES",
    "NodeState",
    "SessionState",
    "WorkspaceState",
    "ensure_transition",
]


class NodeState(StrEnum):
    PENDING = "pending"
    PROVISIONING = "provisioning"
    JOINING = "joining"
    READY = "ready"
    STALE = "stale"
    DRAINING = "draining"
    DELETING = "deleting"
    DELETED = "deleted"
    ERROR = "error"


class WorkspaceState(StrEnum):
    PENDING = "pending"
    CREATING = "creating"
    RUNNING = "running"
    STOPPING = "stopping"
    STOPPED = "stopped"
    STARTING = "starting"
    REBUILDING = "rebuilding"
    DELETING = "deleting"
    DELETED = "deleted"
    ERROR = "error"


class SessionState(StrEnum):
    STARTING = "starting"
    IDLE = "idle"
    RUNNING = "running"
    AWAITING_PERMISSION = "awaiting_permission"
    STOPPED = "stopped"
    ERROR = "error"


LIVE_SESSION_STATES = (
    SessionState.STARTING,
    SessionState.IDLE,
    SessionState.RUNNING,
    SessionState.AWAITING_PERMISSION,
)
"""The states of a session whose agent process runs (or is starting)."""


# The moves each life cycle allows, by state value. Kept per enum because StrEnum members are
# equal to their string value, so `NodeState.ERROR == WorkspaceState.ERROR` and one shared dict
# would mix the life cycles up. Moves into `error` and `deleting` are added below for live states.
_NEXT: dict[type[StrEnum], dict[str, set[str]]] = {
    NodeState: {
        "pending": {"provisioning", "joining"},
        "provisioning": {"joining"},
        "joining": {"ready"},
        "ready": {"stale", "draining"},
        "stale": {"ready", "draining"},
        "draining": {"ready"},
        "deleting": {"deleted"},
        "deleted": set(),
        "error": {"provisioning", "joining", "ready"},
    },
    WorkspaceState: {
        "pending": {"creating"},
        "creating": {"running"},
        "running": {"stopping", "rebuilding"},
        "stopping": {"stopped"},
        "stopped": {"starting", "rebuilding"},
        "starting": {"running"},
        # A new container from a changed devcontainer.json; the checkout is kept. Back to
        # stopped when the node refuses to rebuild a stopped one.
        "rebuilding": {"running", "stopped"},
        "deleting": {"deleted"},
        "deleted": set(),
        # From error a workspace is retried, or found by the node to be fine after all.
        "error": {"creating", "starting", "stopping", "running", "stopped", "rebuilding"},
    },
    SessionState: {
        "starting": {"idle"},
        "idle": {"running"},
        "running": {"idle", "awaiting_permission"},
        "awaiting_permission": {"running", "idle"},
        "stopped": {"starting"},
        "error": {"starting", "stopped"},
    },
}
for _lifecycle in (_NEXT[NodeState], _NEXT[WorkspaceState]):
    for _state, _targets in _lifecycle.items():
        if _state not in ("deleting", "deleted"):
            _targets |= {"error", "deleting"}
for _state, _targets in _NEXT[SessionState].items():
    if _state not in ("stopped", "error"):
        _targets |= {"error", "stopped"}


def ensure_transition(current: StrEnum, target: StrEnum) -> None:
    """Raise `Conflict` unless an object in `current` may move to `target` (of the same enum)."""
    lifecycle = _NEXT[type(current)]
    if type(target) is type(current) and target.value in lifecycle[current.value]:
        return
    allowed_from = sorted(s for s, targets in lifecycle.items() if target.value in targets)
    raise Conflict(
        f"cannot move from {current.value!r} to {target.value!r}; "
        f"it must be one of {', '.join(repr(s) for s in allowed_from) or 'none'}",
        reason="invalid_state",
    )
