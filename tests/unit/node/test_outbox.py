"""The node's outbox: events too big for the node link are cut, but what a viewer needs to act
on them survives, in memory and after a restart alike."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corral.node.acp.outbox import MAX_EVENT_BYTES, Outbox
from corral.protocol.sessions import SessionEventKind

MIB = 1024 * 1024


def _permission_request(new_text: str) -> dict[str, Any]:
    return {
        "request_id": "req-1",
        "tool_call": {
            "toolCallId": "call-1",
            "title": "Write big.txt",
            "kind": "edit",
            "content": [{"type": "diff", "path": "big.txt", "oldText": None, "newText": new_text}],
        },
        "options": [
            {"optionId": "allow", "name": "Allow", "kind": "allow_once"},
            {"optionId": "reject", "name": "Reject", "kind": "reject_once"},
        ],
    }


def _stored(outbox_dir: Path) -> list[dict[str, Any]]:
    """The payloads a restarted node would send."""
    reopened = Outbox(outbox_dir / "outbox.db")
    try:
        return [event.payload for event in reopened.pending("ses", limit=100, max_bytes=64 * MIB)]
    finally:
        reopened.close()


def test_a_huge_permission_request_keeps_its_options_and_tool_call(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    big = "x" * MIB
    sent = outbox.append("ses", SessionEventKind.PERMISSION_REQUEST, _permission_request(big))
    outbox.close()
    for payload in (sent.payload, *_stored(tmp_path)):
        assert len(json.dumps(payload).encode()) <= MAX_EVENT_BYTES
        assert payload["truncated"] is True and payload["bytes"] > MIB
        assert [o["optionId"] for o in payload["options"]] == ["allow", "reject"]
        assert payload["tool_call"]["title"] == "Write big.txt"
        diff_text = payload["tool_call"]["content"][0]["newText"]
        assert diff_text.startswith("xxxx") and "more characters]" in diff_text


def test_an_event_of_many_long_strings_becomes_a_preview(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    payload = {"request_id": "req-2", "parts": ["y" * 20_000 for _ in range(100)]}
    sent = outbox.append("ses", SessionEventKind.PERMISSION_REQUEST, payload)
    assert len(json.dumps(sent.payload).encode()) <= MAX_EVENT_BYTES
    assert sent.payload["request_id"] == "req-2"
    assert sent.payload["truncated"] is True and "preview" in sent.payload
    outbox.close()


def test_an_event_that_fits_is_kept_as_it_is(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    payload = _permission_request("small\n")
    assert outbox.append("ses", SessionEventKind.PERMISSION_REQUEST, payload).payload == payload
    outbox.close()
    assert _stored(tmp_path) == [payload]


def _chunk(outbox: Outbox, text: str) -> None:
    outbox.append(
        "ses", SessionEventKind.UPDATE, {"sessionUpdate": "agent_message_chunk", "t": text}
    )


def test_batches_in_flight_are_not_sent_twice_and_acknowledged_ones_leave_the_file(
    tmp_path: Path,
) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    for n in range(10):
        _chunk(outbox, f"c{n}")
    first = outbox.pending("ses", limit=4, max_bytes=MIB)
    second = outbox.pending("ses", after=first[-1].seq, limit=4, max_bytes=MIB)
    assert [e.seq for e in first] == [1, 2, 3, 4]
    assert [e.seq for e in second] == [5, 6, 7, 8]  # sent while the first awaits its answer
    outbox.acknowledge("ses", 4)
    assert [e.seq for e in outbox.pending("ses", limit=100, max_bytes=MIB)] == list(range(5, 11))
    outbox.flush()
    # A restarted node sends only what was not acknowledged.
    assert [p["t"] for p in _stored(tmp_path)] == [f"c{n}" for n in range(4, 10)]
    outbox.acknowledge("ses", 8)
    outbox.close()
    assert [p["t"] for p in _stored(tmp_path)] == ["c8", "c9"]


def test_an_acknowledgement_lost_to_a_crash_only_sends_the_events_again(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox.db")
    for n in range(3):
        _chunk(outbox, f"c{n}")
    outbox.flush()
    outbox.acknowledge("ses", 2)  # and the node dies before its next flush
    crashed = Outbox(tmp_path / "outbox.db")
    try:
        # The control plane ignores numbers it has: nothing is lost, nothing stored twice.
        assert [e.seq for e in crashed.pending("ses", limit=100, max_bytes=MIB)] == [1, 2, 3]
    finally:
        crashed.close()
        outbox.close()
