"""A `Peer` transport over a local stream (a unix socket): the node daemon and its PTY host.

WebSockets frame messages for the node link; a plain socket needs framing of its own: one
byte saying text or bytes, a 4-byte length, then the payload.
"""

from __future__ import annotations

import asyncio
import struct

from corral.protocol.frames import MAX_STREAM_CHUNK_BYTES, MAX_TEXT_FRAME_BYTES, ProtocolError
from corral.protocol.peer import Peer

__all__ = ["StreamTransport", "serve_frames"]

_HEADER = struct.Struct(">cI")
_TEXT, _BYTES = b"T", b"B"
_MAX_PAYLOAD = max(MAX_TEXT_FRAME_BYTES, MAX_STREAM_CHUNK_BYTES + 8)


class StreamTransport:
    def __init__(self, writer: asyncio.StreamWriter) -> None:
        self._writer = writer

    async def send_text(self, text: str) -> None:
        await self._send(_TEXT, text.encode())

    async def send_bytes(self, data: bytes) -> None:
        await self._send(_BYTES, data)

    async def _send(self, kind: bytes, payload: bytes) -> None:
        self._writer.write(_HEADER.pack(kind, len(payload)) + payload)
        await self._writer.drain()


async def serve_frames(reader: asyncio.StreamReader, peer: Peer) -> None:
    """Feed `peer` every frame from `reader` until the other side closes."""
    while True:
        try:
            header = await reader.readexactly(_HEADER.size)
        except asyncio.IncompleteReadError:
            return
        kind, size = _HEADER.unpack(header)
        if size > _MAX_PAYLOAD or kind not in (_TEXT, _BYTES):
            raise ProtocolError("bad local frame")
        try:
            payload = await reader.readexactly(size)
        except asyncio.IncompleteReadError:
            return
        if kind == _TEXT:
            await peer.handle_text(payload)
        else:
            await peer.handle_bytes(payload)
