"""Sockets that only push: the client's side is read only to notice that it left.

A handler waits on its feed and on the client at once (`ClientWatch.unless_gone`), so a viewer
that closes its tab frees its subscription at once instead of at the next event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import WebSocket, WebSocketDisconnect

__all__ = ["ClientWatch", "watch_client"]

T = TypeVar("T")


class ClientWatch:
    def __init__(self, gone: asyncio.Task[None]) -> None:
        self._gone = gone

    async def unless_gone(self, waiting: Coroutine[Any, Any, T]) -> T | None:
        """What `waiting` returns, or None (and `waiting` cancelled) if the client left first."""
        task = asyncio.create_task(waiting)
        done, _ = await asyncio.wait({task, self._gone}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        return None


@asynccontextmanager
async def watch_client(websocket: WebSocket) -> AsyncIterator[ClientWatch]:
    """Read (and ignore) what the client sends until it disconnects, for the block's length."""
    gone = asyncio.create_task(_until_disconnected(websocket))
    try:
        yield ClientWatch(gone)
    finally:
        gone.cancel()
        with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
            await gone


async def _until_disconnected(websocket: WebSocket) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
