"""One linked node: its peer (requests, events) and the streams opened to it from this side."""

from __future__ import annotations

import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable

from corral.protocol.messages import Body
from corral.protocol.peer import (
    Caller,
    Encoded,
    EventHandler,
    Handler,
    Peer,
    StreamHandler,
    Transport,
)

__all__ = ["NodeConnection"]

log = logging.getLogger("corral.nodelink")


class NodeConnection(Caller):
    """Routes a node's stream frames to whoever opened each stream here (a terminal viewer)."""

    def __init__(
        self,
        node_id: str,
        node_name: str,
        transport: Transport,
        *,
        on_event: EventHandler,
        handlers: dict[str, Handler] | None = None,
        request_timeout_seconds: float,
        disconnect: Callable[[int, str], Awaitable[None]],
        window_budget_bytes: int,
        min_stream_window_bytes: int,
    ) -> None:
        self.node_id = node_id
        self.node_name = node_name
        self.request_timeout_seconds = request_timeout_seconds
        self.peer = Peer(
            transport,
            handlers=handlers,
            on_event=on_event,
            streams=self,
            name=f"node {node_name}",
        )
        self._streams: dict[int, StreamHandler] = {}
        self._stream_ids = itertools.count(1)
        self._disconnect = disconnect
        self._window_budget = window_budget_bytes
        self._min_stream_window = min_stream_window_bytes

    async def request(
        self, method: str, params: Body | Encoded, *, timeout_seconds: float | None = None
    ) -> Body:
        if timeout_seconds is None:
            timeout_seconds = self.request_timeout_seconds
        return await self.peer.request(method, params, timeout_seconds=timeout_seconds)

    def stream_window(self) -> int:
        """The credit each stream of this link may hold now: one budget shared by the open
        streams, so the output in flight on the link (in the node's and this side's socket
        buffers, where bytes wait in order) stays bounded however many terminals flood, and a
        quiet terminal's echo waits behind at most that much."""
        shared = self._window_budget // max(1, len(self._streams))
        return max(self._min_stream_window, shared)

    def open_stream(self, handler: StreamHandler) -> int:
        stream = next(self._stream_ids)
        self._streams[stream] = handler
        return stream

    async def close_stream(self, stream: int, reason: str) -> None:
        """Stop a stream from this side: forget it and tell the node."""
        if self._streams.pop(stream, None) is not None:
            await self.peer.close_stream(stream, reason)

    async def on_data(self, stream: int, data: bytes) -> None:
        handler = self._streams.get(stream)
        if handler is not None:
            await handler.on_data(stream, data)

    async def on_window(self, stream: int, granted: int) -> None:
        handler = self._streams.get(stream)
        if handler is not None:
            await handler.on_window(stream, granted)

    async def on_close(self, stream: int, reason: str) -> None:
        handler = self._streams.pop(stream, None)
        if handler is not None:
            await handler.on_close(stream, reason)

    async def close(self, reason: str, *, code: int | None = None) -> None:
        """The link is gone, or (with a close `code`) is to be cut: fail pending requests and
        tell every stream."""
        if code is not None:
            with contextlib.suppress(Exception):
                await self._disconnect(code, reason[:120])
        await self.peer.close(reason)
        streams, self._streams = self._streams, {}
        for stream, handler in streams.items():
            try:
                await handler.on_close(stream, reason)
            except Exception:
                log.exception("closing stream %s failed", stream)
