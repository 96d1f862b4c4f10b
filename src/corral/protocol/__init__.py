"""The node link: messages between the control plane and node daemons, shared by both ends.

One WebSocket per node carries JSON text frames (`corral.protocol.frames`) for requests,
responses, events and stream control, and binary frames for stream bytes (a 4-byte stream id,
then data). The typed bodies of requests and events are in `corral.protocol.messages`.
"""

from corral.protocol.frames import (
    MAX_STREAM_CHUNK_BYTES,
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

__all__ = [
    "MAX_STREAM_CHUNK_BYTES",
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
