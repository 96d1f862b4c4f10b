"""What a viewer of a session sees (`stream`): the stored events after the number it has, then
the new ones as the node sends them, each exactly once and in order, across the boundary
between the two; and a viewer too slow to keep up is cut off and catches up by reconnecting."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator, AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any

import pytest

from corral.control.live import sessions as live_sessions
from corral.control.services.sessions.stream import FellBehind, stream
from corral.errors import NotFound
from corral.ids import new_id
from corral.protocol.sessions import (
    SessionEvent,
    SessionEventKind,
    SessionEvents,
    SessionEventsAck,
)
from tests.unit.control.conftest import Site

QUIET_SECONDS = 0.05
WAIT_SECONDS = 5.0


class Viewer:
    """One viewer's `stream`, read a batch at a time; a read that times out is not lost, the
    next read goes on waiting for it."""

    def __init__(self, events: AsyncGenerator[list[tuple[int, str]], None]) -> None:
        self.events = events
        self._next: asyncio.Future[list[tuple[int, str]]] | None = None

    async def batch(self, wait_seconds: float = WAIT_SECONDS) -> list[dict[str, Any]]:
        if self._next is None:
            self._next = asyncio.ensure_future(anext(self.events))
        done, _ = await asyncio.wait({self._next}, timeout=wait_seconds)
        if not done:
            raise TimeoutError
        task, self._next = self._next, None
        return [json.loads(text) for _, text in task.result()]

    async def seqs(self) -> list[int]:
        return [event["seq"] for event in await self.batch()]

    async def quiet(self) -> bool:
        """Whether nothing comes for a moment."""
        try:
            await self.batch(QUIET_SECONDS)
        except TimeoutError:
            return True
        return False

    async def close(self) -> None:
        if self._next is not None:
            self._next.cancel()
            await asyncio.gather(self._next, return_exceptions=True)
        await self.events.aclose()


@asynccontextmanager
async def watching(
    site: Site, session_id: str, *, after: int = 0, page: int = 1000, user_id: str | None = None
) -> AsyncIterator[Viewer]:
    viewer = Viewer(
        stream(
            site.state.db,
            site.state.session_hub,
            user_id or site.owner.id,
            session_id,
            after=after,
            page=page,
        )
    )
    try:
        yield viewer
    finally:
        await viewer.close()


async def test_a_viewer_gets_the_stored_events_then_the_new_ones(site: Site) -> None:
    row = await site.start()
    await site.prompt(row.id, "hi")
    await site.node.flush()  # 1 idle, 2 prompt, 3 running
    async with watching(site, row.id) as viewer:
        assert await viewer.seqs() == [1, 2, 3]
        await site.node.reply(row.id, "hello")
        (live,) = await viewer.batch()
    assert live["session_id"] == row.id
    assert (live["seq"], live["kind"]) == (4, "update")
    assert live["payload"]["content"]["text"] == "hello"
    async with watching(site, row.id, after=3) as viewer:
        assert await viewer.batch() == [live]  # stored, it reads as it was sent live


async def test_a_reconnecting_viewer_gets_only_what_it_missed(site: Site) -> None:
    row = await site.start()
    await site.node.reply(row.id, "a", "b", "c")  # 2, 3, 4
    async with watching(site, row.id, after=3) as viewer:
        assert await viewer.seqs() == [4]
        assert await viewer.quiet()


async def test_events_stored_during_the_replay_are_sent_once_across_the_boundary(
    site: Site,
) -> None:
    row = await site.start()
    await site.node.reply(row.id, "1", "2", "3", "4")  # 1 .. 5
    seen: list[int] = []
    async with watching(site, row.id, page=2) as viewer:
        seen += await viewer.seqs()  # [1, 2]: subscribed, and paused in the replay
        await site.node.reply(row.id, "5", "6")  # 6 and 7: stored, and queued live too
        while len(seen) < 7:
            seen += await viewer.seqs()
        assert await viewer.quiet()  # the live copies of 6 and 7 were dropped
        await site.node.reply(row.id, "7")
        seen += await viewer.seqs()
    assert seen == list(range(1, 9))


async def test_a_viewer_too_slow_to_keep_up_is_cut_off_and_catches_up_on_reconnecting(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live_sessions, "MAX_QUEUED_EVENTS", 5)
    row = await site.start()
    async with watching(site, row.id) as viewer:
        assert await viewer.seqs() == [1]
        await site.node.reply(row.id, *"abcdef")  # 2 .. 7 in one batch, unread: too many
        with pytest.raises(FellBehind, match="too far behind: reconnect from your last seq"):
            await viewer.batch()
    async with watching(site, row.id, after=1) as viewer:
        assert await viewer.seqs() == [2, 3, 4, 5, 6, 7]


async def test_every_viewer_of_a_session_gets_every_event(site: Site) -> None:
    row = await site.start()
    async with watching(site, row.id) as one, watching(site, row.id) as two:
        assert await one.seqs() == [1]
        assert await two.seqs() == [1]
        await site.node.reply(row.id, "x")
        assert await one.seqs() == [2]
        assert await two.seqs() == [2]


async def test_another_users_session_cannot_be_watched(site: Site) -> None:
    row = await site.start()
    async with watching(site, row.id, user_id="usr_someone_else") as viewer:
        with pytest.raises(NotFound, match=f"no session '{row.id}'"):
            await viewer.batch()


async def test_batches_sent_back_to_back_are_stored_once_in_order(site: Site) -> None:
    """A node keeps several batches of a session in flight; the control plane stores them in
    the order they were sent, each event once."""
    session = await site.start()
    before = (await site.session(session.id)).last_seq
    batches = []
    for start in range(3):
        for n in range(400):
            site.node.append(
                session.id,
                SessionEventKind.UPDATE,
                {
                    "sessionUpdate": "agent_message_chunk",
                    "content": {"type": "text", "text": f"{start}.{n} "},
                },
            )
    events = [event for _, event in site.node.take_unsent()]
    for index in range(0, len(events), 400):
        batches.append(events[index : index + 400])
    link = site.node.peer
    assert link is not None
    acks = await asyncio.gather(
        *(
            link.call(
                "session.events",
                SessionEvents(session_id=session.id, events=batch),
                SessionEventsAck,
            )
            for batch in batches
        )
    )
    assert [ack.acked_seq for ack in acks] == [batch[-1].seq for batch in batches]
    stored = await site.events(session.id, after=before)
    assert [e.seq for e in stored] == list(range(before + 1, before + 1201))
    assert (await site.session(session.id)).last_seq == before + 1200


async def test_a_batch_that_fails_fails_alone_among_those_stored_with_it(site: Site) -> None:
    gone = new_id("ses")  # a session the control plane does not have
    first, second = await site.start(), await site.start()
    batches = []
    for session_id in (first.id, gone, second.id):
        seq = (await site.session(session_id)).last_seq + 1 if session_id != gone else 1
        event = SessionEvent(
            seq=seq,
            kind=SessionEventKind.UPDATE,
            payload={
                "sessionUpdate": "agent_message_chunk",
                "content": {"type": "text", "text": "hi"},
            },
            at=datetime.now(UTC),
        )
        batches.append(SessionEvents(session_id=session_id, events=[event]))
    results = await asyncio.gather(
        *(site.state.ingester.store(site.node.id, batch) for batch in batches),
        return_exceptions=True,
    )
    assert isinstance(results[1], NotFound)
    assert results[0] == batches[0].events[0].seq and results[2] == batches[2].events[0].seq
    for session_id in (first.id, second.id):
        assert (await site.events(session_id))[-1].payload["content"]["text"] == "hi"


async def test_live_events_that_skip_numbers_send_the_viewer_back_to_the_stored_ones(
    site: Site,
) -> None:
    """A replica that dies between storing events and telling the others of them: the
    viewers elsewhere get the next ones live, see the gap, and read the missing ones."""
    row = await site.start()
    async with watching(site, row.id) as viewer:
        assert await viewer.seqs() == [1]
        hub = site.state.session_hub
        with _silenced(hub):
            await site.node.reply(row.id, "lost", "on the way")  # 2, 3: stored, never told
        await site.node.reply(row.id, "told")  # 4
        seen: list[int] = []
        while len(seen) < 3:
            seen += await viewer.seqs()
        assert seen == [2, 3, 4]


async def test_a_viewer_whose_broker_lost_messages_reads_them_from_the_store(site: Site) -> None:
    row = await site.start()
    async with watching(site, row.id) as viewer:
        assert await viewer.seqs() == [1]
        with _silenced(site.state.session_hub):
            await site.node.reply(row.id, "lost")  # 2, and nothing comes after it
        assert await viewer.quiet()
        site.state.broker.lose_all()  # type: ignore[attr-defined]  # a LocalBroker here
        assert await viewer.seqs() == [2]


@contextmanager
def _silenced(hub: live_sessions.SessionHub) -> Iterator[None]:
    """Events stored meanwhile are not published, as if their message were lost."""
    publish = hub.publish
    hub.publish = lambda *args: None  # type: ignore[method-assign]
    try:
        yield
    finally:
        hub.publish = publish  # type: ignore[method-assign]
