"""The node link: messages between the control plane and node daemons, shared by both ends.

One WebSocket per node carries JSON text frames (`corral.protocol.frames`) for requests,
responses, events and stream control, and binary frames for stream bytes (a 4-byte stream id,
then data). The typed bodies of requests and events are in `corral.protocol.messages`.
"""
