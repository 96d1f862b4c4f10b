"""The idle decision, without a database: which timeout applies, when a workspace's deadline
falls (and when it has none), how a timeout reads, and what `Presence` keeps of typing and
viewers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from corral.control.presence import Presence
from corral.control.services.idle import (
    Hold,
    IdleFacts,
    IdleTimeout,
    effective_timeout,
    format_minutes,
    idle_deadline,
)

AT = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("workspace", "project", "default", "expected"),
    [
        (None, None, 30.0, IdleTimeout(30.0, "default")),
        (None, 45, 30.0, IdleTimeout(45.0, "project")),
        (10, 45, 30.0, IdleTimeout(10.0, "workspace")),
        (None, 0, 30.0, IdleTimeout(None, "project")),
        (0, 45, 30.0, IdleTimeout(None, "workspace")),
        (20, 0, 30.0, IdleTimeout(20.0, "workspace")),
        (None, None, 0.0, IdleTimeout(None, "default")),
        (None, 5, 0.0, IdleTimeout(5.0, "project")),
    ],
)
def test_the_nearest_setting_decides_and_zero_there_means_never(
    workspace: int | None, project: int | None, default: float, expected: IdleTimeout
) -> None:
    assert effective_timeout(workspace, project, default) == expected


def test_a_running_workspace_stops_its_timeout_after_its_last_activity() -> None:
    facts = IdleFacts(running=True, timeout_minutes=30, last_active_at=AT)
    assert idle_deadline(facts) == AT + timedelta(minutes=30)


@pytest.mark.parametrize("hold", list(Hold))
def test_a_hold_keeps_it_running_however_long_it_lasts(hold: Hold) -> None:
    facts = IdleFacts(
        running=True, timeout_minutes=30, last_active_at=AT - timedelta(days=400), hold=hold
    )
    assert idle_deadline(facts) is None


def test_a_workspace_that_never_stops_or_is_not_running_has_no_deadline() -> None:
    assert idle_deadline(IdleFacts(running=True, timeout_minutes=None, last_active_at=AT)) is None
    assert idle_deadline(IdleFacts(running=False, timeout_minutes=30, last_active_at=AT)) is None


@pytest.mark.parametrize(
    ("minutes", "text"),
    [
        (30, "30 min"),
        (90, "1 h 30 min"),
        (120, "2 h"),
        (0.75, "45 s"),
        (1, "1 min"),
        (1440, "24 h"),
    ],
)
def test_a_timeout_reads_as_people_say_it(minutes: float, text: str) -> None:
    assert format_minutes(minutes) == text


# -- Presence --------------------------------------------------------------------------------


def test_typing_is_taken_once_for_writing() -> None:
    presence = Presence()
    presence.touch("wsp_a")
    first = presence.latest("wsp_a")
    presence.touch("wsp_a")
    latest = presence.latest("wsp_a")
    assert first is not None and latest is not None and latest >= first
    assert presence.take() == {"wsp_a": latest}
    assert presence.take() == {}
    assert presence.latest("wsp_a") is None


def test_a_workspace_with_a_viewer_is_active_at_every_take_and_when_it_leaves() -> None:
    presence = Presence()
    with presence.watching("wsp_a"), presence.watching("wsp_a"):
        assert presence.viewers("wsp_a") == 2
        assert set(presence.take()) == {"wsp_a"}
        assert set(presence.take()) == {"wsp_a"}
    assert presence.viewers("wsp_a") == 0
    assert set(presence.take()) == {"wsp_a"}  # the moment the last viewer left
    assert presence.take() == {}


def test_activity_whose_write_failed_is_given_back_without_moving_it_back() -> None:
    presence = Presence()
    presence.touch("wsp_a")
    taken = presence.take()
    presence.touch("wsp_a")
    newer = presence.latest("wsp_a")
    presence.give_back({**taken, "wsp_b": AT})
    assert presence.take() == {"wsp_a": newer, "wsp_b": AT}
