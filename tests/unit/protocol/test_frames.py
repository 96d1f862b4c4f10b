"""Frames of the node link: every frame survives a round trip, and anything malformed is refused
with a `ProtocolError` whose message names what is wrong without repeating what was sent."""

from __future__ import annotations

import json

import pytest

from corral.protocol.frames import (
    MAX_STREAM_CHUNK_BYTES,
    MAX_TEXT_FRAME_BYTES,
    PROTOCOL_VERSION,
    Event,
    Frame,
    Hello,
    ProtocolError,
    RemoteError,
    Request,
    Response,
    StreamClose,
    StreamWindow,
    Welcome,
    decode_stream_chunk,
    encode_stream_chunk,
    parse_frame,
)

# Put into frames wherever a value goes; no error message may repeat it.
MARKER = "zqx-frame-content-zqx"

FRAMES: list[Frame] = [
    Hello(protocol_version=PROTOCOL_VERSION, node_version="0.1.0"),
    Welcome(protocol_version=PROTOCOL_VERSION, node_id="nod_1", heartbeat_interval_seconds=15.0),
    Request(id=0, method="workspace.list"),
    Request(id=7, method="workspace.start", params={"id": "wsp_1", "nested": {"a": [1, 2]}}),
    Response(id=7, result={"id": "wsp_1", "state": "running"}),
    Response(id=8, error=RemoteError(code="not_found", message="no workspace wsp_1")),
    Response(id=9),
    Event(name="heartbeat", params={"cpus": 4}),
    StreamWindow(stream=1, bytes=65536),
    StreamWindow(stream=2**32 - 1, bytes=1),
    StreamClose(stream=3, reason="bye"),
    StreamClose(stream=3),
]


@pytest.mark.parametrize("frame", FRAMES, ids=lambda f: f"{f.type}:{f!r}"[:60])
def test_every_frame_round_trips(frame: Frame) -> None:
    text = frame.model_dump_json()
    assert parse_frame(text) == frame
    assert parse_frame(text.encode()) == frame
    assert type(parse_frame(text)) is type(frame)


def test_every_frame_type_is_covered() -> None:
    """A new frame type needs a row in FRAMES."""
    assert {f.type for f in FRAMES} == {
        "hello",
        "welcome",
        "request",
        "response",
        "event",
        "window",
        "close",
    }


def refused(text: str | bytes) -> str:
    with pytest.raises(ProtocolError) as caught:
        parse_frame(text)
    message = str(caught.value)
    assert MARKER not in message, message
    assert len(message) < 200, message
    return message


@pytest.mark.parametrize(
    "text",
    [
        "",
        MARKER,
        "{",
        '{"type": "hello", "protocol_version": 1, "node_version": "' + MARKER,
        '["' + MARKER + '"]',
        '"' + MARKER + '"',
        "null",
        "{}",
        '{"protocol_version": 1, "node_version": "' + MARKER + '"}',
        b'{"type": "event", "name": "\xff' + MARKER.encode() + b'"}',
    ],
    ids=[
        "empty",
        "not json",
        "unterminated object",
        "unterminated string",
        "array",
        "string",
        "null",
        "no type",
        "missing type",
        "invalid utf-8",
    ],
)
def test_malformed_json_is_refused(text: str | bytes) -> None:
    refused(text)


@pytest.mark.parametrize("kind", [MARKER, "Hello", "", 1, None])
def test_unknown_frame_type_is_refused(kind: object) -> None:
    refused(json.dumps({"type": kind, "name": MARKER}))


def test_extra_field_is_refused_without_its_value() -> None:
    frame = {"type": "event", "name": "heartbeat", "params": {}, "note": MARKER}
    message = refused(json.dumps(frame))
    assert "note" in message, message


def test_extra_field_is_refused_without_its_name() -> None:
    """A field's name is what the peer sent too: it may be long, or hold anything at all."""
    refused(json.dumps({"type": "window", "stream": 1, "bytes": 1, MARKER * 100: 1}))


@pytest.mark.parametrize(
    ("frame", "field"),
    [
        ({"type": "request", "id": MARKER, "method": "workspace.list"}, "id"),
        ({"type": "request", "id": -1, "method": MARKER}, "id"),
        ({"type": "request", "id": 1, "method": MARKER * 10}, "method"),
        ({"type": "hello", "protocol_version": MARKER, "node_version": "1"}, "protocol_version"),
        ({"type": "event", "name": "heartbeat", "params": [MARKER]}, "params"),
        ({"type": "window", "stream": 0, "bytes": 1}, "stream"),
        ({"type": "window", "stream": 2**32, "bytes": 1}, "stream"),
        ({"type": "window", "stream": 1, "bytes": 0}, "bytes"),
        ({"type": "close", "stream": 1, "reason": MARKER * 100}, "reason"),
        ({"type": "response", "id": 1, "error": {"code": MARKER}}, "error"),
    ],
)
def test_invalid_field_is_named_not_echoed(frame: dict[str, object], field: str) -> None:
    assert field in refused(json.dumps(frame))


def padded_event(size: int) -> str:
    """A valid event frame exactly `size` bytes long."""
    empty = Event(name="heartbeat", params={"pad": ""}).model_dump_json()
    text = Event(name="heartbeat", params={"pad": "x" * (size - len(empty))}).model_dump_json()
    assert len(text.encode()) == size
    return text


def test_text_frame_at_the_limit_is_accepted() -> None:
    text = padded_event(MAX_TEXT_FRAME_BYTES)
    assert isinstance(parse_frame(text), Event)
    assert isinstance(parse_frame(text.encode()), Event)


@pytest.mark.parametrize("as_bytes", [False, True], ids=["str", "bytes"])
def test_oversize_text_frame_is_refused(as_bytes: bool) -> None:
    text = padded_event(MAX_TEXT_FRAME_BYTES + 1).replace('"pad":"x', f'"pad":"{MARKER}', 1)
    message = refused(text.encode() if as_bytes else text)
    assert str(MAX_TEXT_FRAME_BYTES) in message


def test_oversize_text_frame_is_measured_in_bytes() -> None:
    """A str frame of multi-byte characters: under the limit in characters, over it in bytes."""
    pad = "é" * (MAX_TEXT_FRAME_BYTES // 2 + 1)
    text = '{"type": "event", "name": "heartbeat", "params": {"pad": "' + pad + '"}}'
    assert len(text) < MAX_TEXT_FRAME_BYTES < len(text.encode())
    refused(text)


# -- binary frames ---------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [1, 2, 2**31, 2**32 - 1])
@pytest.mark.parametrize("size", [0, 1, MAX_STREAM_CHUNK_BYTES])
def test_stream_chunk_round_trips(stream: int, size: int) -> None:
    data = bytes(i % 251 for i in range(size))
    frame = encode_stream_chunk(stream, data)
    assert len(frame) == 4 + size
    assert decode_stream_chunk(frame) == (stream, data)


def refused_chunk(frame: bytes) -> str:
    with pytest.raises(ProtocolError) as caught:
        decode_stream_chunk(frame)
    message = str(caught.value)
    assert MARKER not in message and repr(frame[:8]) not in message, message
    assert len(message) < 200, message
    return message


@pytest.mark.parametrize("frame", [b"", b"\x00", b"\x00\x00\x01"], ids=len)
def test_short_binary_frame_is_refused(frame: bytes) -> None:
    assert "header" in refused_chunk(frame)


def test_oversize_binary_frame_is_refused() -> None:
    data = (MARKER.encode() * (MAX_STREAM_CHUNK_BYTES // len(MARKER) + 2))[
        : MAX_STREAM_CHUNK_BYTES + 1
    ]
    assert str(MAX_STREAM_CHUNK_BYTES) in refused_chunk(encode_stream_chunk(1, data))


@pytest.mark.parametrize("data", [b"", MARKER.encode()], ids=["empty", "data"])
def test_binary_frame_for_stream_zero_is_refused(data: bytes) -> None:
    assert "stream 0" in refused_chunk(b"\x00\x00\x00\x00" + data)
