"""Live session events for viewers in this control plane process.

Events are published after they are committed, so a viewer that subscribes first and then reads
the database misses nothing: anything committed before its read is in the read, anything after
arrives here. The viewer drops what it already has by sequence number. A subscriber that falls
too far behind is cut off (its queue is bounded) and reconnects from its last number, which
costs a database read instead of control-plane memory. One whose broker may have lost events
(`missed`) reads the database again from its last number before it goes on.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from corral.control.live.broker import Broker

__all__ = ["MAX_QUEUED_EVENTS", "SessionHub", "Subscription"]

MAX_QUEUED_EVENTS = 10_000

Event = tuple[int, str]
"""An event's sequence number and its JSON as viewers get it."""


class Subscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[list[Event]] = asyncio.Queue()
        self.queued = 0
        self.overflowed = False
        self.missed = False
        """Events may have been lost on the way here: read the stored ones again."""

    def put(self, message: Any) -> None:
        events: list[Event] = [(seq, event) for seq, event in message]
        if self.overflowed:
            return
        self.queued += len(events)
        if self.queued > MAX_QUEUED_EVENTS:
            self.overflowed = True
            self.queue.put_nowait([])  # wakes the viewer, which sees `overflowed`
            return
        self.queue.put_nowait(events)

    def lose(self) -> None:
        self.missed = True
        self.queue.put_nowait([])  # wakes the viewer, which sees `missed`

    async def get(self) -> list[Event]:
        events = await self.queue.get()
        self.queued -= len(events)
        return events


class SessionHub:
    """Session events by session id, over `broker` (channel `session:<id>`)."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    @contextmanager
    def subscribe(self, session_id: str) -> Iterator[Subscription]:
        subscription = Subscription()
        with self._broker.listen(_channel(session_id), subscription.put, subscription.lose):
            yield subscription

    def publish(self, session_id: str, events: list[Event]) -> None:
        self._broker.publish(_channel(session_id), events)


def _channel(session_id: str) -> str:
    return f"session:{session_id}"
