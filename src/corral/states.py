"""The life cycles of nodes, workspaces and agent sessions, as DESIGN.md draws them.

Each state enum's values are the design's words. `ensure_transition` is the one place that says
which moves are legal, so services cannot drift apart on it; an illegal move raises `Conflict`
naming the states the object would have to be in.
"""

from __future__ import annotations

from enum import StrEnum

from corral.errors import Conflict

__all__ = [
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


_N, _W, _S = NodeState, WorkspaceState, SessionState

# Moves into `error` and `deleting` are allowed from every live state, so they are added below.
_NEXT: dict[StrEnum, set[StrEnum]] = {
    _N.PENDING: {_N.PROVISIONING, _N.JOINING},
    _N.PROVISIONING: {_N.JOINING},
    _N.JOINING: {_N.READY},
    _N.READY: {_N.STALE, _N.DRAINING},
    _N.STALE: {_N.READY, _N.DRAINING},
    _N.DRAINING: {_N.READY},
    _N.DELETING: {_N.DELETED},
    _N.ERROR: {_N.PROVISIONING, _N.JOINING, _N.READY},
    _W.PENDING: {_W.CREATING},
    _W.CREATING: {_W.RUNNING},
    _W.RUNNING: {_W.STOPPING},
    _W.STOPPING: {_W.STOPPED},
    _W.STOPPED: {_W.STARTING},
    _W.STARTING: {_W.RUNNING},
    _W.DELETING: {_W.DELETED},
    _W.ERROR: {_W.CREATING, _W.STARTING, _W.STOPPING},
    _S.STARTING: {_S.IDLE},
    _S.IDLE: {_S.RUNNING, _S.STOPPED},
    _S.RUNNING: {_S.IDLE, _S.AWAITING_PERMISSION, _S.STOPPED},
    _S.AWAITING_PERMISSION: {_S.RUNNING, _S.IDLE, _S.STOPPED},
    _S.ERROR: {_S.STARTING, _S.STOPPED},
}
for _node in NodeState:
    if _node not in (_N.DELETING, _N.DELETED):
        _NEXT[_node] |= {_N.ERROR, _N.DELETING}
for _workspace in WorkspaceState:
    if _workspace not in (_W.DELETING, _W.DELETED):
        _NEXT[_workspace] |= {_W.ERROR, _W.DELETING}
for _session in SessionState:
    if _session not in (_S.STOPPED, _S.ERROR):
        _NEXT[_session] |= {_S.ERROR, _S.STOPPED}
_NEXT[_S.STOPPED] = {_S.STARTING}


def ensure_transition(current: StrEnum, target: StrEnum) -> None:
    """Raise `Conflict` unless an object in `current` may move to `target`."""
    if target in _NEXT.get(current, set()):
        return
    allowed_from = sorted(s.value for s, nexts in _NEXT.items() if target in nexts)
    raise Conflict(
        f"cannot move from {current.value!r} to {target.value!r}; "
        f"it must be one of {', '.join(repr(s) for s in allowed_from) or 'none'}",
        reason="invalid_state",
    )
