"""Frames of the node link: strict pydantic models with a literal `type`, and binary chunks.

The first frame from the node is `Hello` with its protocol version; the control plane answers
`Welcome` or closes the socket with code 4400 and a reason. After that either side may send
`Request` (answered by a `Response` with the same id), `Event` (no answer), and stream frames.
A stream is a byte channel (a terminal viewer, later an agent session) named by a number that
the side opening it picks. Bytes flow as binary frames; the receiver grants the sender credit
with `StreamWindow`, so one busy stream cannot grow the other side's memory or starve the rest.
"""

from __future__ import annotations

import re
import struct
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

__all__ = [
    "CLOSE_BAD_FRAME",
    "CLOSE_NORMAL",
    "CLOSE_PROTOCOL_VERSION",
    "CLOSE_RESTART",
    "CLOSE_UNAUTHORIZED",
    "MAX_STREAM_CHUNK_BYTES",
    "MAX_TEXT_FRAME_BYTES",
    "NODE_IDENTITY_FILE_NAME",
    "PROTOCOL_VERSION",
    "Event",
    "Frame",
    "Hello",
    "ProtocolError",
    "RemoteError",
    "Request",
    "Response",
    "StreamClose",
    "StreamWindow",
    "Welcome",
    "decode_stream_chunk",
    "encode_stream_chunk",
    "parse_frame",
]

PROTOCOL_VERSION = 1
MAX_STREAM_CHUNK_BYTES = 64 * 1024
MAX_TEXT_FRAME_BYTES = 1024 * 1024
NODE_IDENTITY_FILE_NAME = "node.json"
"""In a node's data directory, the credential it got for its join token. The control plane's
supervisor of its local node reads whether it is there, to know if that node has joined."""

# WebSocket close codes of the node link (4000-4999 are for applications).
CLOSE_NORMAL = 1000
CLOSE_RESTART = 1012
CLOSE_UNAUTHORIZED = 4401
CLOSE_PROTOCOL_VERSION = 4400
CLOSE_BAD_FRAME = 4002

_STREAM_HEADER = struct.Struct(">I")
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9_.]{1,40}$")


class ProtocolError(Exception):
    """The peer sent something the protocol does not allow; the link should be dropped."""


class _Frame(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Hello(_Frame):
    type: Literal["hello"] = "hello"
    protocol_version: int
    node_version: str = Field(max_length=64)


class Welcome(_Frame):
    type: Literal["welcome"] = "welcome"
    protocol_version: int
    node_id: str
    heartbeat_interval_seconds: float


class RemoteError(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str = Field(max_length=64)
    message: str = Field(max_length=4000)
    kind: Literal["not_found", "invalid_input", "conflict", "unavailable", "error"] = Field(
        "error", description="Which of Corral's error classes it was, so it keeps its meaning."
    )


class Request(_Frame):
    type: Literal["request"] = "request"
    id: int = Field(ge=0)
    method: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


class Response(_Frame):
    type: Literal["response"] = "response"
    id: int = Field(ge=0)
    result: dict[str, Any] | None = None
    error: RemoteError | None = None


class Event(_Frame):
    type: Literal["event"] = "event"
    name: str = Field(max_length=64)
    params: dict[str, Any] = Field(default_factory=dict)


class StreamWindow(_Frame):
    """The receiver of a stream's bytes allows the sender `bytes` more."""

    type: Literal["window"] = "window"
    stream: int = Field(ge=1, lt=2**32)
    bytes: int = Field(gt=0)


class StreamClose(_Frame):
    type: Literal["close"] = "close"
    stream: int = Field(ge=1, lt=2**32)
    reason: str = Field("", max_length=500)


Frame = Annotated[
    Hello | Welcome | Request | Response | Event | StreamWindow | StreamClose,
    Field(discriminator="type"),
]
_FRAME_ADAPTER: TypeAdapter[Frame] = TypeAdapter(Frame)


def parse_frame(text: str | bytes) -> Frame:
    """Parse one text frame; raise `ProtocolError` naming what is wrong (never the content)."""
    size = len(text) if isinstance(text, bytes) else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_TEXT_FRAME_BYTES:
        raise ProtocolError(f"text frame over {MAX_TEXT_FRAME_BYTES} bytes")
    try:
        return _FRAME_ADAPTER.validate_json(text)
    except ValidationError as exc:
        raise ProtocolError(f"malformed frame ({_describe(exc)})") from None


def _describe(exc: ValidationError) -> str:
    """Which fields are wrong, in at most 200 characters. An unexpected field is named only if
    its name is short and plain: it is whatever the peer sent."""
    problems = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "frame"
        if error["type"] == "extra_forbidden" and not _PLAIN_NAME.match(where):
            where = "an unexpected field"
        problems.append(where)
    return ", ".join(dict.fromkeys(problems))[:200]


def encode_stream_chunk(stream: int, data: bytes) -> bytes:
    return _STREAM_HEADER.pack(stream) + data


def decode_stream_chunk(frame: bytes) -> tuple[int, bytes]:
    if len(frame) < _STREAM_HEADER.size:
        raise ProtocolError("binary frame shorter than its stream header")
    if len(frame) - _STREAM_HEADER.size > MAX_STREAM_CHUNK_BYTES:
        raise ProtocolError(f"binary frame over {MAX_STREAM_CHUNK_BYTES} bytes")
    (stream,) = _STREAM_HEADER.unpack_from(frame)
    if stream == 0:
        raise ProtocolError("stream 0 does not exist")
    return stream, frame[_STREAM_HEADER.size :]
