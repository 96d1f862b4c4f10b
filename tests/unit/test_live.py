"""The live feeds over a broker: each listener of a channel gets what is published while it
listens, nothing after it leaves, and a session viewer that falls too far behind is cut off."""

from __future__ import annotations

from typing import Any

from corral.control.live import LocalBroker, SessionHub, ViewerSockets
from corral.control.live.sessions import MAX_QUEUED_EVENTS


def test_a_listener_gets_its_channel_only_and_only_while_it_listens() -> None:
    broker = LocalBroker()
    got: list[Any] = []
    other: list[Any] = []
    broker.publish("a", "before")
    with broker.listen("a", got.append), broker.listen("b", other.append):
        broker.publish("a", 1)
        broker.publish("a", [2, "x"])
    broker.publish("a", "after")
    assert got == [1, [2, "x"]]
    assert other == []


async def test_session_events_reach_every_viewer_of_that_session() -> None:
    hub = SessionHub(LocalBroker())
    with hub.subscribe("s1") as first, hub.subscribe("s1") as second, hub.subscribe("s2") as third:
        hub.publish("s1", [(1, '{"seq":1}'), (2, '{"seq":2}')])
        assert await first.get() == [(1, '{"seq":1}'), (2, '{"seq":2}')]
        assert await second.get() == [(1, '{"seq":1}'), (2, '{"seq":2}')]
        assert third.queue.empty()


async def test_a_viewer_that_falls_too_far_behind_is_cut_off() -> None:
    hub = SessionHub(LocalBroker())
    with hub.subscribe("s1") as slow:
        hub.publish("s1", [(n, "{}") for n in range(MAX_QUEUED_EVENTS)])
        hub.publish("s1", [(MAX_QUEUED_EVENTS, "{}")])
        assert len(await slow.get()) == MAX_QUEUED_EVENTS
        assert await slow.get() == []
        assert slow.overflowed


async def test_cutting_off_a_user_reaches_each_of_their_sockets_only() -> None:
    sockets = ViewerSockets(LocalBroker())
    with (
        sockets.track("alice") as tab1,
        sockets.track("alice") as tab2,
        sockets.track("bob") as bob,
    ):
        sockets.cut_off("alice", "your account has been disabled")
        await tab1.wait_cut_off()
        await tab2.wait_cut_off()
        assert tab1.cut_off_reason == "your account has been disabled"
        assert bob.cut_off_reason is None
