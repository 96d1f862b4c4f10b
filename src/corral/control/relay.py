"""Joins one viewer's WebSocket (a browser tab, `corral workspace shell`) to a terminal on a node.

Output flows node → control plane → viewer under the stream's credit: the relay grants the node
more only after a chunk has gone out to the viewer, so a slow viewer slows its own stream and
holds at most its window here. The window is the link's share (`NodeConnection.stream_window`):
twenty flooding terminals keep no more bytes in flight than one, so a keystroke's echo on a
quiet terminal does not queue behind megabytes of other terminals' output.

If the node link drops, the relay waits for the node to relink and attaches again from the last
byte the viewer got: no gap and no repeat. If the node relinks to another control plane replica,
the relay stops with the viewer's socket open and says where the next leg starts
(`corral.control.terminalviewer` goes on through that replica).

Viewer protocol: binary frames are terminal bytes both ways; text frames from the viewer are
JSON `{"type": "resize", "cols": N, "rows": M}`; the first text frame to the viewer is
`{"type": "attached", "terminal": {...}, "offset": N}`. Anything else closes the viewer's
socket with a close code and reason; the terminal is unaffected.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable

from fastapi import WebSocket, WebSocketDisconnect
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from corral.control.api.closecodes import CLOSE_INVALID, CLOSE_MESSAGE_TOO_BIG, CLOSE_NORMAL
from corral.control.nodelink.connection import NodeConnection
from corral.control.nodelink.registry import NodeRegistry
from corral.errors import CorralError
from corral.protocol.frames import MAX_STREAM_CHUNK_BYTES
from corral.protocol.messages import TerminalAttach, TerminalAttached, TerminalResize

__all__ = ["TerminalRelay"]

log = logging.getLogger("corral.relay")

GRANT_BATCHES = 4
LINK_CLOSED_REASONS = ("the link closed", "the node link closed", "the node linked again")


class _Resize(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: str = Field(pattern="^resize$")
    cols: int = Field(ge=1, le=1000)
    rows: int = Field(ge=1, le=1000)


class TerminalRelay:
    def __init__(
        self,
        websocket: WebSocket,
        registry: NodeRegistry,
        *,
        node_id: str,
        workspace_id: str,
        terminal_id: str,
        relink_grace_seconds: float,
        offset: int | None = None,
        on_input: Callable[[], None] | None = None,
        announce: bool = True,
    ) -> None:
        self.websocket = websocket
        self.registry = registry
        self.node_id = node_id
        self.workspace_id = workspace_id
        self.terminal_id = terminal_id
        self.relink_grace_seconds = relink_grace_seconds
        self._resume = offset
        """Where the next attach starts: the viewer's ?offset=, then the byte after the last
        one received (received bytes still queued for the viewer are delivered all the same)."""
        self._base: int | None = None
        self._chunks: asyncio.Queue[tuple[int, bytes] | None] = asyncio.Queue()
        self._ended: str | None = None
        self._link: NodeConnection | None = None
        self._stream = 0
        self._received = 0  # on the current stream; bytes may precede the attach's answer
        self._reattaching: asyncio.Task[None] | None = None
        self._holding = 0
        """Of the current stream: the credit the node still has plus the bytes received and not
        yet sent to the viewer. Grants top it up to the link's share."""
        self._on_input = on_input
        """Told of each input frame (the idle policy's activity); must be cheap."""
        self._announce = announce
        """Whether to send the viewer the `attached` frame (not on a later leg: it has it)."""
        self._moved = False
        self.attached = False
        """Whether the terminal was attached: the viewer has had bytes of it, or could have."""

    @property
    def resume_offset(self) -> int | None:
        """Where a next leg of the viewer's socket starts: after the last byte received."""
        return self._resume

    async def run(self) -> bool:
        """Serve the viewer until it leaves or the terminal ends (its socket is closed then);
        or until the node's link moves to another replica: then True, with the socket open."""
        link = self.registry.local(self.node_id)
        if link is None:
            self.registry.get(self.node_id)  # raises when the node is not linked anywhere
            return True  # linked to another replica
        attached = await self._attach(link)
        self.attached = True
        if self._announce:
            await self.websocket.send_text(
                json.dumps(
                    {
                        "type": "attached",
                        "terminal": attached.terminal.model_dump(mode="json"),
                        "offset": attached.offset,
                    }
                )
            )
        sender = asyncio.create_task(self._to_viewer())
        receiver = asyncio.create_task(self._from_viewer())
        try:
            await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            tasks = [sender, receiver, *([self._reattaching] if self._reattaching else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._detach()
        if receiver.done() and not receiver.cancelled() and (error := receiver.exception()):
            raise error
        return self._moved

    async def _attach(self, link: NodeConnection) -> TerminalAttached:
        """Open a stream on `link` and attach it from `self.offset`; on failure, close it."""
        stream = link.open_stream(self)
        self._link, self._stream, self._received, self._base = link, stream, 0, None
        self._holding = link.stream_window()
        try:
            attached = await link.call(
                "terminal.attach",
                TerminalAttach(
                    workspace_id=self.workspace_id,
                    terminal_id=self.terminal_id,
                    stream=stream,
                    window_bytes=self._holding,
                    offset=self._resume,
                ),
                TerminalAttached,
            )
        except BaseException:
            await self._detach()
            raise
        # The node's word for where these bytes start (an old offset starts at the oldest kept).
        self._base = attached.offset
        return attached

    async def _detach(self) -> None:
        link, self._link = self._link, None
        if link is not None:
            await link.close_stream(self._stream, "viewer left")

    # -- node to viewer ----------------------------------------------------------------------

    async def on_data(self, stream: int, data: bytes) -> None:
        if stream != self._stream:
            return
        self._received += len(data)
        self._chunks.put_nowait((stream, data))

    async def on_window(self, stream: int, granted: int) -> None:
        """Input is not credit-controlled (the node bounds it); nothing to do."""

    async def on_close(self, stream: int, reason: str) -> None:
        if stream != self._stream:
            return
        self._link = None
        if self._base is not None:
            self._resume = self._base + self._received
        if reason in LINK_CLOSED_REASONS and self._ended is None:
            self._reattaching = asyncio.get_running_loop().create_task(self._reattach())
        else:
            self._end(reason or "terminal closed")

    async def _reattach(self) -> None:
        if await self.registry.wait_for(self.node_id, self.relink_grace_seconds) is None:
            self._end("the node is not reachable")
            return
        link = self.registry.local(self.node_id)
        if link is None:  # relinked to another replica: the next leg goes through it
            self._moved = True
            self._end("the node linked to another replica")
            return
        try:
            await self._attach(link)
        except CorralError as exc:
            self._end(exc.message)

    def _end(self, reason: str) -> None:
        self._ended = reason
        self._chunks.put_nowait(None)

    async def _to_viewer(self) -> None:
        while True:
            item = await self._chunks.get()
            if item is None:
                if self._moved:
                    return
                with contextlib.suppress(RuntimeError, WebSocketDisconnect):
                    await self.websocket.close(CLOSE_NORMAL, (self._ended or "")[:120])
                return
            stream, chunk = item
            await self.websocket.send_bytes(chunk)
            link = self._link
            # Credit goes back to the stream the chunk came on, not to a newer one, in batches of
            # a quarter window (a grant per chunk made the node wake for every few bytes), and
            # only up to the link's current share: a stream's window shrinks as others open.
            if link is not None and stream == self._stream:
                self._holding -= len(chunk)
                window = link.stream_window()
                if window - self._holding >= window // GRANT_BATCHES:
                    granted = window - self._holding
                    self._holding = window
                    with contextlib.suppress(CorralError):
                        await link.peer.grant(stream, granted)

    # -- viewer to node ----------------------------------------------------------------------

    async def _from_viewer(self) -> None:
        while self._ended is None:
            try:
                message = await self.websocket.receive()
            except WebSocketDisconnect:
                return
            if message["type"] == "websocket.disconnect":
                return
            data = message.get("bytes")
            if data is not None:
                if len(data) > MAX_STREAM_CHUNK_BYTES:
                    await self.websocket.close(CLOSE_MESSAGE_TOO_BIG, "input frame over 64 KiB")
                    return
                await self._send_input(data)
            elif message.get("text") is not None and not await self._control(message["text"]):
                return

    async def _send_input(self, data: bytes) -> None:
        if self._on_input is not None:
            self._on_input()
        link = self._link
        if link is None:
            return  # relinking: keystrokes typed now are dropped, as on a stalled ssh
        with contextlib.suppress(CorralError):
            await link.peer.send_stream(self._stream, data)

    async def _control(self, text: str) -> bool:
        if len(text) > 1024:
            await self.websocket.close(CLOSE_MESSAGE_TOO_BIG, "control frame over 1 KiB")
            return False
        try:
            resize = _Resize.model_validate_json(text)
        except ValidationError:
            await self.websocket.close(CLOSE_INVALID, 'expected {"type": "resize", ...}')
            return False
        link = self._link
        if link is not None:
            with contextlib.suppress(CorralError):
                await link.request(
                    "terminal.resize",
                    TerminalResize(
                        workspace_id=self.workspace_id,
                        terminal_id=self.terminal_id,
                        cols=resize.cols,
                        rows=resize.rows,
                    ),
                )
        return True
