"""The viewers' WebSockets that are open (terminals, session events, live updates), by user, so
that an account that is disabled loses every one of them at once, not at its next reconnect.

In memory, like the sockets themselves: one control plane process serves them.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractContextManager

from corral.control.subscribers import Subscribers

__all__ = ["Viewer", "ViewerSockets"]


class Viewer:
    """One open viewer socket: told when its user is cut off, and why."""

    def __init__(self) -> None:
        self.cut_off_reason: str | None = None
        self._cut = asyncio.Event()

    def cut_off(self, reason: str) -> None:
        self.cut_off_reason = reason
        self._cut.set()

    async def wait_cut_off(self) -> None:
        await self._cut.wait()


class ViewerSockets:
    def __init__(self) -> None:
        self._viewers = Subscribers(Viewer)

    def track(self, user_id: str) -> AbstractContextManager[Viewer]:
        """A socket of `user_id`, tracked for the length of the block."""
        return self._viewers.subscribe(user_id)

    def cut_off(self, user_id: str, reason: str) -> int:
        """Tell every open socket of `user_id` to close with `reason`; return how many."""
        viewers = list(self._viewers.of(user_id))
        for viewer in viewers:
            viewer.cut_off(reason)
        return len(viewers)
