"""What an agent writes on stdout, read line by line: JSON that not every reader takes (NaN, lone
surrogates, integers beyond 64 bits) reaches the transcript as valid JSON, and a line that is
not JSON ends the session with a message naming it."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import pytest

from corral.node.acp.outbox import Outbox, encoded_batch
from corral.node.acp.rpc import AgentProtocolError, AgentRpc
from corral.protocol.sessions import SessionEventKind, SessionEvents

SESSION_ID = "ses_01m97q5pt2aa3aqj204st9m16g"


async def _read(*lines: bytes) -> list[Any]:
    """The params of the notifications `lines` carry, as the session host is handed them."""
    reader = asyncio.StreamReader()
    for line in lines:
        reader.feed_data(line + b"\n")
    reader.feed_eof()
    received: list[Any] = []

    async def no_requests(method: str, params: Any) -> Any:
        raise AssertionError(method)

    rpc = AgentRpc(
        reader,
        writer=None,  # type: ignore[arg-type]  # nothing is written: no requests come
        on_request=no_requests,
        on_notification=lambda method, params: received.append(params["update"]),
        max_line_bytes=64 * 1024,
    )
    await asyncio.wait_for(rpc.run(), 10)
    return received


def _update(extra: str) -> bytes:
    return (
        b'{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":"s","update":'
        b'{"sessionUpdate":"agent_message_chunk",' + extra.encode() + b"}}}"
    )


async def test_unusual_json_from_an_agent_reaches_the_control_plane_as_valid_json(
    tmp_path: Path,
) -> None:
    updates = await _read(
        _update('"text":"plain ✓"'),
        _update('"score":NaN'),
        _update('"text":"half a pair: \\ud800"'),
        _update('"tokens":12345678901234567890123'),
    )
    assert updates[0]["text"] == "plain ✓"
    assert math.isnan(updates[1]["score"])
    assert updates[2]["text"] == "half a pair: \ud800"
    assert updates[3]["tokens"] == 12345678901234567890123

    outbox = Outbox(tmp_path / "outbox.db")
    try:
        events = [outbox.append(SESSION_ID, SessionEventKind.UPDATE, u) for u in updates]
        batch = SessionEvents.model_validate_json(encoded_batch(SESSION_ID, events))
    finally:
        outbox.close()
    payloads = [event.payload for event in batch.events]
    assert payloads[0] == updates[0] and payloads[3] == updates[3]
    assert payloads[1]["score"] is None  # JSON has no NaN
    assert payloads[2]["text"] == "half a pair: \ufffd"  # UTF-8 cannot hold half a pair


async def test_a_line_that_is_not_json_is_named() -> None:
    with pytest.raises(AgentProtocolError, match="not JSON: 'Loading model"):
        await _read(b"Loading model weights...")
