import contextlib

import pytest

from corral.errors import Conflict
from corral.states import NodeState, SessionState, WorkspaceState, ensure_transition


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (WorkspaceState.PENDING, WorkspaceState.CREATING),
        (WorkspaceState.RUNNING, WorkspaceState.STOPPING),
        (WorkspaceState.STOPPED, WorkspaceState.STARTING),
        (WorkspaceState.RUNNING, WorkspaceState.ERROR),
        (WorkspaceState.STOPPED, WorkspaceState.REBUILDING),
        (WorkspaceState.REBUILDING, WorkspaceState.RUNNING),
        (WorkspaceState.REBUILDING, WorkspaceState.STOPPED),
        (NodeState.READY, NodeState.STALE),
        (NodeState.STALE, NodeState.READY),
        (SessionState.RUNNING, SessionState.AWAITING_PERMISSION),
        (SessionState.STOPPED, SessionState.STARTING),
    ],
)
def test_the_designs_transitions_are_allowed(current, target):
    ensure_transition(current, target)


def test_an_illegal_move_names_the_states_it_needs():
    with pytest.raises(Conflict) as caught:
        ensure_transition(WorkspaceState.STOPPED, WorkspaceState.STOPPING)
    assert "cannot move from 'stopped' to 'stopping'" in caught.value.message
    assert "'running'" in caught.value.message
    assert caught.value.reason == "invalid_state"


def test_deleted_is_final():
    for target in WorkspaceState:
        with pytest.raises(Conflict):
            ensure_transition(WorkspaceState.DELETED, target)


def test_every_state_of_every_life_cycle_has_its_moves():
    for enum in (NodeState, WorkspaceState, SessionState):
        for state in enum:
            # Raises KeyError, not Conflict, if a state were missing from the table.
            with contextlib.suppress(Conflict):
                ensure_transition(state, state)


def test_life_cycles_do_not_mix():
    # Same string value, other life cycle: sessions have no 'deleting'.
    with pytest.raises(Conflict):
        ensure_transition(SessionState.RUNNING, WorkspaceState.DELETING)
