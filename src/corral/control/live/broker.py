"""The broker under the live feeds: messages on named channels, fanned out to listeners.

The feeds (`SessionHub`, `ChangeFeed`, `ViewerSockets`) keep their own delivery rules (bounded
queues, merged notices, cut-offs) and speak to a broker only through `publish` and `listen`.
A broker delivers each message published after a `listen` began to that listener, in publishing
order per channel. One between processes (`PostgresBroker`) can lose messages when its
connection drops: it then calls each listener's `lost`, and the feed makes its sockets catch up
from the database (read again, refetch, reconnect) instead of going on with a gap.

Messages are JSON values (lists, dicts, strings, numbers); `LocalBroker` hands over the object
itself, a broker between processes encodes it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

__all__ = ["Broker", "Deliver", "LocalBroker", "Lost"]

Deliver = Callable[[Any], None]
"""Called with each message on the channel, in the publishing order; must not block."""

Lost = Callable[[], None]
"""Called when messages for the listener may have been lost; must not block."""


class Broker(ABC):
    @abstractmethod
    def publish(self, channel: str, message: Any) -> None:
        """Send `message` to every listener of `channel`; with none, it is dropped."""

    @abstractmethod
    def listen(
        self, channel: str, deliver: Deliver, lost: Lost | None = None
    ) -> AbstractContextManager[None]:
        """Call `deliver` with each message published on `channel` during the block, and `lost`
        if some may not arrive."""


class LocalBroker(Broker):
    """Listeners in this process only: what one control plane process needs, and the local
    half of a broker between processes."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[Deliver]] = {}
        self._lost: dict[Deliver, Lost] = {}

    def publish(self, channel: str, message: Any) -> None:
        for deliver in tuple(self._listeners.get(channel, ())):
            deliver(message)

    def lose_all(self) -> None:
        """Tell every listener that messages may have been lost."""
        for lost in tuple(self._lost.values()):
            lost()

    @contextmanager
    def listen(self, channel: str, deliver: Deliver, lost: Lost | None = None) -> Iterator[None]:
        listeners = self._listeners.setdefault(channel, set())
        listeners.add(deliver)
        if lost is not None:
            self._lost[deliver] = lost
        try:
            yield
        finally:
            self._lost.pop(deliver, None)
            listeners.discard(deliver)
            if not listeners:
                del self._listeners[channel]
