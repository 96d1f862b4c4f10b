"""Live session events for viewers in this control plane process.

Events are published after they are committed, so a viewer that subscribes first and then reads
the database misses nothing: anything committed before its read is in the read, anything after
arrives here. The viewer drops what it already has by sequence number. A subscriber that falls
too far behind is cut off (its queue is bounded) and reconnects from its last number, which
costs a database read instead of control-plane memory.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager

from corral.control.subscribers import Subscribers

__all__ = ["MAX_QUEUED_EVENTS", "SessionHub", "Subscription"]

MAX_QUEUED_EVENTS = 10_000

Event = tuple[int, str]
"""An event's sequence number and its JSON as viewers get it."""


class Subscription:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[list[Event]] = asyncio.Queue()
        self.queued = 0
        self.overflowed = False

    def put(self, events: list[Event]) -> None:
        if self.overflowed:
            return
        self.queued += len(events)
        if self.queued > MAX_QUEUED_EVENTS:
            self.overflowed = True
            self.queue.put_nowait([])  # wakes the viewer, which sees `overflowed`
            return
        self.queue.put_nowait(events)

    async def get(self) -> list[Event]:
        events = await self.queue.get()
        self.queued -= len(events)
        return events


class SessionHub:
    def __init__(self) -> None:
        self._subscribers = Subscribers(Subscription)

    def subscribe(self, session_id: str) -> AbstractContextManager[Subscription]:
        return self._subscribers.subscribe(session_id)

    def publish(self, session_id: str, events: list[Event]) -> None:
        for subscription in self._subscribers.of(session_id):
            subscription.put(events)
