"""The broker under the live feeds: messages on named channels, fanned out to listeners.

The feeds (`SessionHub`, `ChangeFeed`, `ViewerSockets`) keep their own delivery rules (bounded
queues, merged notices, cut-offs) and speak to a broker only through `publish` and `listen`. So
a broker that spans processes (PostgreSQL LISTEN/NOTIFY, say) can replace `LocalBroker` without
touching them or their callers: it must deliver each message published after a `listen` began
to that listener, in publishing order per channel, and may lose none while the listener lives.

Messages are JSON values (lists, dicts, strings, numbers); `LocalBroker` hands over the object
itself, a broker between processes would encode it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

__all__ = ["Broker", "Deliver", "LocalBroker"]

Deliver = Callable[[Any], None]
"""Called with each message on the channel, in the publishing order; must not block."""


class Broker(ABC):
    @abstractmethod
    def publish(self, channel: str, message: Any) -> None:
        """Send `message` to every listener of `channel` now; with none, it is dropped."""

    @abstractmethod
    def listen(self, channel: str, deliver: Deliver) -> AbstractContextManager[None]:
        """Call `deliver` with each message published on `channel` during the block."""


class LocalBroker(Broker):
    """Listeners in this process only: what one control plane process needs."""

    def __init__(self) -> None:
        self._listeners: dict[str, set[Deliver]] = {}

    def publish(self, channel: str, message: Any) -> None:
        for deliver in tuple(self._listeners.get(channel, ())):
            deliver(message)

    @contextmanager
    def listen(self, channel: str, deliver: Deliver) -> Iterator[None]:
        listeners = self._listeners.setdefault(channel, set())
        listeners.add(deliver)
        try:
            yield
        finally:
            listeners.discard(deliver)
            if not listeners:
                del self._listeners[channel]
