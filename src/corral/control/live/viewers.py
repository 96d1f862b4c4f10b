"""The viewers' WebSockets that are open (terminals, session events, live updates), by user, so
that an account that is disabled loses every one of them at once, not at its next reconnect.

A cut-off reaches the sockets on every replica through the broker. When the broker may have
lost one, each socket is told to check its user again (`recheck`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from corral.control.live.broker import Broker

__all__ = ["Viewer", "ViewerSockets"]


class Viewer:
    """One open viewer socket: told when its user is cut off, and why."""

    def __init__(self) -> None:
        self.cut_off_reason: str | None = None
        self._cut = asyncio.Event()
        self.recheck = asyncio.Event()
        """Set when a cut-off may have been lost: the socket checks its user is still allowed."""

    def cut_off(self, reason: Any) -> None:
        self.cut_off_reason = str(reason)
        self._cut.set()

    def lose(self) -> None:
        self.recheck.set()

    async def wait_cut_off(self) -> None:
        await self._cut.wait()


class ViewerSockets:
    """Open viewer sockets by user id, over `broker` (channel `viewers:<user id>`)."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    @contextmanager
    def track(self, user_id: str) -> Iterator[Viewer]:
        """A socket of `user_id`, tracked for the length of the block."""
        viewer = Viewer()
        with self._broker.listen(_channel(user_id), viewer.cut_off, viewer.lose):
            yield viewer

    def cut_off(self, user_id: str, reason: str) -> None:
        """Tell every open socket of `user_id` to close with `reason`."""
        self._broker.publish(_channel(user_id), reason)


def _channel(user_id: str) -> str:
    return f"viewers:{user_id}"
