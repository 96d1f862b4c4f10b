"""The PTY host's protocol: how the node daemon and its PTY host talk, over a unix socket.

It is the node link's `Peer` protocol with a method set of its own, `PTY_METHODS`: the
terminal requests the daemon passes on from the control plane, and the `pty.*` requests only
the daemon makes. The host serves exactly these; neither end knows any other.

WebSockets frame messages for the node link; a plain socket needs framing of its own
(`serve_frames` reads it): one byte saying text or bytes, a 4-byte length, then the
payload.
"""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path

from pydantic import Field

from corral.protocol.frames import MAX_STREAM_CHUNK_BYTES, MAX_TEXT_FRAME_BYTES, ProtocolError
from corral.protocol.messages import (
    MAX_WINDOW,
    METHODS,
    Body,
    Empty,
    Id,
    TerminalInfo,
    WorkspaceRef,
)
from corral.protocol.peer import Handler, Peer, StreamHandler

__all__ = [
    "PTY_METHODS",
    "PtySpawn",
    "pty_peer",
    "run_dir",
    "serve_frames",
    "socket_path",
]


def run_dir(data_dir: Path) -> Path:
    return data_dir / "run"


def socket_path(data_dir: Path) -> Path:
    """Where the host listens (mode 0600, owner only)."""
    return run_dir(data_dir) / "pty.sock"


class PtySpawn(Body):
    """Start a program on a new terminal in the node's PTY host (see `corral.node.ptyhost`)."""

    workspace_id: Id
    argv: list[str] = Field(min_length=1, max_length=4096)
    env: dict[str, str]
    cwd: str = Field(max_length=4096)
    cols: int = Field(80, ge=1, le=MAX_WINDOW)
    rows: int = Field(24, ge=1, le=MAX_WINDOW)
    marker: str | None = Field(None, max_length=64, description="See `ProcessSpec.marker`.")
    nice: int = Field(0, ge=0, le=19, description="See `ProcessSpec.nice`.")


PTY_METHODS: dict[str, tuple[type[Body], type[Body]]] = {
    "pty.spawn": (PtySpawn, TerminalInfo),
    # As the control plane sends them to the daemon, which passes them on.
    **{
        method: METHODS[method]
        for method in ("terminal.list", "terminal.delete", "terminal.attach", "terminal.resize")
    },
    "pty.close_workspace": (WorkspaceRef, Empty),
    "pty.detach_all": (Empty, Empty),
    "pty.shutdown": (Empty, Empty),
}
"""Every request between the daemon and its PTY host (always from the daemon)."""

_HEADER = struct.Struct(">cI")
_TEXT, _BYTES = b"T", b"B"
_MAX_PAYLOAD = max(MAX_TEXT_FRAME_BYTES, MAX_STREAM_CHUNK_BYTES + 8)


def pty_peer(
    writer: asyncio.StreamWriter,
    *,
    streams: StreamHandler,
    name: str,
    handlers: dict[str, Handler] | None = None,
) -> Peer:
    """A `Peer` on the PTY host's socket, writing to `writer`: `PTY_METHODS`, no events."""
    return Peer(
        _StreamTransport(writer),
        handlers=handlers,
        streams=streams,
        name=name,
        methods=PTY_METHODS,
        events={},
    )


class _StreamTransport:
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
