"""A viewer's terminal socket piped to the replica that holds the node's link.

The viewer's socket is authenticated here; the holding replica runs the terminal relay for it
(`TERMINAL_PATH`, a signed WebSocket), and this side passes frames both ways unchanged,
counting the terminal bytes so that a next leg starts after the last one the viewer got. The
holder's socket closes with `CLOSE_LINK_MOVED` when the node's link moves on, and closes
abnormally when the holder dies: either way the pipe says to go on elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from urllib.parse import urlencode

import websockets
from fastapi import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection

from corral.control.replicas.directory import Holder
from corral.control.replicas.signing import ReplicaSigner
from corral.protocol.frames import MAX_TEXT_FRAME_BYTES

__all__ = ["CLOSE_LINK_MOVED", "TERMINAL_PATH", "TerminalPipe"]

log = logging.getLogger("corral.replicas")

TERMINAL_PATH = "/internal/v1/nodes/{node_id}/terminals/{workspace_id}/{terminal_id}"
CLOSE_LINK_MOVED = 4012
"""Between replicas only: the node's link is not (or no longer) held here; try where it is."""
CONNECT_TIMEOUT_SECONDS = 10.0
GO_ON_ELSEWHERE = frozenset({CLOSE_LINK_MOVED, 1006, 1011, 1012, 1013, 1014})
"""Holder close codes after which the viewer goes on through wherever the link is now: moved,
the holder died or restarted."""


class TerminalPipe:
    def __init__(
        self,
        websocket: WebSocket,
        holder: Holder,
        signer: ReplicaSigner,
        *,
        node_id: str,
        workspace_id: str,
        terminal_id: str,
        offset: int | None,
        announce: bool,
        on_input: Callable[[], None] | None = None,
    ) -> None:
        self.websocket = websocket
        self._signer = signer
        path = TERMINAL_PATH.format(
            node_id=node_id, workspace_id=workspace_id, terminal_id=terminal_id
        )
        self._target = f"{path}?{urlencode({'offset': offset})}" if offset is not None else path
        scheme = "wss" if holder.url.startswith("https:") else "ws"
        self._url = f"{scheme}:{holder.url.split(':', 1)[1]}{self._target}"
        self._holder = holder
        self._announce = announce
        self._on_input = on_input
        self._base: int | None = None
        self._received = 0
        self._start = offset
        self.attached = False

    @property
    def resume_offset(self) -> int | None:
        return self._start if self._base is None else self._base + self._received

    async def run(self) -> bool:
        """Pipe until the viewer leaves or the terminal ends (the viewer's socket is closed
        then, as the holder closed its own), or until the holder says the link moved or dies:
        then True, with the viewer's socket open."""
        try:
            async with websockets.connect(
                self._url,
                additional_headers=self._signer.sign("GET", self._target, self._holder.replica_id),
                open_timeout=CONNECT_TIMEOUT_SECONDS,
                max_size=MAX_TEXT_FRAME_BYTES,
                proxy=None,
            ) as holder:
                try:
                    first = await holder.recv()
                except websockets.ConnectionClosed:
                    return await self._went_on(holder)
                if isinstance(first, bytes):
                    return True
                self._base = int(json.loads(first)["offset"])
                self.attached = True
                if self._announce:
                    await self.websocket.send_text(first)
                return await self._pipe(holder)
        except (OSError, TimeoutError, websockets.WebSocketException, ValueError, KeyError) as exc:
            log.info("the terminal's replica is not reachable: %s", exc)
            return True

    async def _pipe(self, holder: ClientConnection) -> bool:
        down = asyncio.create_task(self._to_viewer(holder))
        up = asyncio.create_task(self._to_holder(holder))
        try:
            await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (down, up):
                task.cancel()
            await asyncio.gather(down, up, return_exceptions=True)
        if up.done() and not up.cancelled() and up.exception() is None:
            return False  # the viewer left
        return await self._went_on(holder)

    async def _went_on(self, holder: ClientConnection) -> bool:
        """After the holder closed its socket: True to go on elsewhere (the link moved, the
        holder died or restarts); else the viewer's socket is closed as the holder's was (the
        terminal ended, the workspace stopped, the ticket's user lost access)."""
        code, reason = holder.close_code, holder.close_reason or ""
        if code is None or code in GO_ON_ELSEWHERE:
            return True
        with contextlib.suppress(RuntimeError, WebSocketDisconnect):
            await self.websocket.close(code, reason)
        return False

    async def _to_viewer(self, holder: ClientConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for message in holder:
                if isinstance(message, bytes):
                    await self.websocket.send_bytes(message)
                    self._received += len(message)
                else:
                    await self.websocket.send_text(message)

    async def _to_holder(self, holder: ClientConnection) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            data, text = message.get("bytes"), message.get("text")
            if data is not None:
                if self._on_input is not None:
                    self._on_input()
                await holder.send(data)
            elif text is not None:
                await holder.send(text)
