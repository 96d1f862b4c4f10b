"""A viewer's events of one session: those stored after a sequence number, then the new ones
as they are stored, each exactly once and in order (`stream`).

It subscribes to the live events before it reads the database: an event stored in between is
then in both, and its sequence number drops the copy; none can fall between the two. A viewer
too slow to keep up is cut off (`FellBehind`, see `corral.control.live.sessions`) and should come
back from the last number it has, which costs a database read instead of control-plane memory.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from corral.control.db.engine import DbSessionFactory
from corral.control.live.sessions import SessionHub
from corral.control.services.sessions.queries import list_events
from corral.control.services.sessions.transcript import LiveEvent, event_json
from corral.protocol.sessions import payload_json

__all__ = ["REPLAY_PAGE", "FellBehind", "stream"]

REPLAY_PAGE = 1000


class FellBehind(Exception):
    """The viewer did not keep up with the live events and missed some: it should reconnect
    from the last sequence number it has."""


async def stream(
    open_db: DbSessionFactory,
    hub: SessionHub,
    user_id: str,
    session_id: str,
    *,
    after: int = 0,
    page: int = REPLAY_PAGE,
) -> AsyncGenerator[list[LiveEvent], None]:
    """Batches of the user's session's events after `after`, as viewers get them: the stored
    ones (`page` at a time, each page a database session of its own), then the live ones
    forever. Live events that skip a number, or a broker that may have lost some, send it back
    to the stored ones from its last number. Raises `FellBehind` when the viewer fell too far
    behind; close it (`aclosing`) when done with it, which ends its subscription."""
    with hub.subscribe(session_id) as subscription:
        last = after
        while True:
            subscription.missed = False
            while True:
                async with open_db() as db:
                    _, stored = await list_events(db, user_id, session_id, after=last, limit=page)
                if stored:
                    yield [
                        (
                            e.seq,
                            event_json(
                                session_id,
                                e.seq,
                                e.kind,
                                payload_json(e.payload).decode(),
                                e.created_at.isoformat(),
                            ),
                        )
                        for e in stored
                    ]
                    last = stored[-1].seq
                if len(stored) < page:
                    break
            while not subscription.missed:
                events = await subscription.get()
                if subscription.overflowed:
                    raise FellBehind("too far behind: reconnect from your last seq")
                fresh = [event for event in events if event[0] > last]
                if fresh and fresh[0][0] != last + 1:
                    # Some never came (a replica died between storing and telling): they are
                    # stored, since events are told after their commit; read them from there.
                    break
                if fresh:
                    yield fresh
                    last = fresh[-1][0]
