"""The node's outbox of session events: nothing an agent does is lost to a dropped link.

Every event gets the next sequence number of its session and is written to a SQLite file in the
node's data directory before it is sent. The control plane acknowledges what it stored and the
node deletes it; after a restart of either side the rest is sent again, and the control plane
ignores numbers it already has. Appends are buffered in memory and written in one transaction
per batch (`flush`), which the sender calls before each send: a flood of updates costs one
commit per batch, not one per update. Acknowledgements are deleted in that same transaction:
an acknowledged event that a crash leaves in the file is sent again and ignored.

Each event is serialized once, when it is appended: the JSON the node link carries is kept with
it, and a batch is those texts joined (`encoded_batch`), not models serialized again.

Events carry what agents send, which may include file contents, but never credentials: those
only ever reach the agent's environment.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
from collections import deque
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from corral.protocol.sessions import SessionEventKind, payload_json

__all__ = ["MAX_EVENT_BYTES", "Outbox", "OutboxEvent", "encoded_batch"]

MAX_EVENT_BYTES = 256 * 1024
"""An event's payload above this is cut down to a preview: the node link's text frames are
bounded, and a transcript is for reading, not for carrying whole files."""
PREVIEW_CHARS = 16 * 1024
LONG_STRING_CHARS = 8 * 1024
"""Strings longer than this are cut first when an event is too big."""
EVENT_OVERHEAD_BYTES = 80
"""About what an event takes on the link beyond its payload (seq, kind, time)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    session_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (session_id, seq)
);
CREATE TABLE IF NOT EXISTS sequences (
    session_id TEXT PRIMARY KEY,
    next_seq INTEGER NOT NULL
);
"""


class OutboxEvent(NamedTuple):
    seq: int
    json: str
    """The event as the node link carries it (a `corral.protocol.sessions.SessionEvent`)."""
    size: int
    """Its payload's size in bytes."""

    @property
    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = json.loads(self.json)["payload"]
        return payload


def _event_json(seq: int, kind: str, payload: str, at: str) -> str:
    return f'{{"seq":{seq},"kind":"{kind}","payload":{payload},"at":"{at}"}}'


def encoded_batch(session_id: str, events: list[OutboxEvent]) -> str:
    """A `SessionEvents` batch's JSON, from its events' own."""
    joined = ",".join(event.json for event in events)
    return f'{{"session_id":"{session_id}","events":[{joined}]}}'


def _bounded(payload: dict[str, Any]) -> tuple[str, int]:
    """The payload's JSON, at most `MAX_EVENT_BYTES`, and its size in bytes.

    Long strings (file contents in diffs, tool output) are cut to a preview first, which keeps
    the structure a viewer needs: a permission request keeps its options and its tool call's
    title and kind, so it can still be answered. Only if that is not enough is the whole
    payload replaced by a preview.
    """
    data = payload_json(payload)
    size = len(data)
    if size <= MAX_EVENT_BYTES:
        return data.decode(), size
    shortened = payload_json({**_shorten(payload), "truncated": True, "bytes": size})
    if len(shortened) > MAX_EVENT_BYTES:
        text = data.decode()
        cut: dict[str, Any] = {"truncated": True, "bytes": size, "preview": text[:PREVIEW_CHARS]}
        for key in ("sessionUpdate", "toolCallId", "request_id", "prompt_id", "state"):
            if key in payload:
                cut[key] = payload[key]
        shortened = payload_json(cut)
    return shortened.decode(), len(shortened)


def _shorten(value: Any) -> Any:
    """`value` with every string over `LONG_STRING_CHARS` cut, and a note of how much was."""
    if isinstance(value, str) and len(value) > LONG_STRING_CHARS:
        return f"{value[:LONG_STRING_CHARS]}\n[… {len(value) - LONG_STRING_CHARS} more characters]"
    if isinstance(value, dict):
        return {key: _shorten(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_shorten(item) for item in value]
    return value


class Outbox:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        path.chmod(0o600)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._next: dict[str, int] = dict(
            self._db.execute("SELECT session_id, next_seq FROM sequences").fetchall()
        )
        self._buffer: list[tuple[str, int, str, str, str]] = []
        self._acknowledged: dict[str, int] = {}
        """Per session, the last event acknowledged and not yet deleted from the file."""
        # What is not acknowledged yet, also kept in memory: sending never reads the file, and
        # acknowledging pops from the front. A session's are numbered one after another.
        self._unacked: dict[str, deque[OutboxEvent]] = {}
        self.unacknowledged = 0
        """How many events wait for the control plane's acknowledgement, in all sessions."""
        rows = self._db.execute(
            "SELECT session_id, seq, kind, payload, at FROM events ORDER BY session_id, seq"
        )
        for session_id, seq, kind, payload, at in rows:
            event = OutboxEvent(seq, _event_json(seq, kind, payload, at), len(payload.encode()))
            self._unacked.setdefault(session_id, deque()).append(event)
            self.unacknowledged += 1

    def close(self) -> None:
        self.flush()
        self._db.close()

    def start_at(self, session_id: str, next_seq: int) -> None:
        """Continue a session's numbering: from the control plane's word, or further on if
        this node already numbered events the control plane has not stored yet."""
        self._next[session_id] = max(self._next.get(session_id, 1), next_seq)

    def append(
        self, session_id: str, kind: SessionEventKind, payload: dict[str, Any]
    ) -> OutboxEvent:
        seq = self._next.get(session_id, 1)
        self._next[session_id] = seq + 1
        at = datetime.now(UTC).isoformat()
        text, size = _bounded(payload)
        self._buffer.append((session_id, seq, kind.value, text, at))
        event = OutboxEvent(seq, _event_json(seq, kind.value, text, at), size)
        unacked = self._unacked.get(session_id)
        if unacked is None:
            unacked = self._unacked[session_id] = deque()
        unacked.append(event)
        self.unacknowledged += 1
        return event

    def flush(self) -> None:
        """Write what was appended, and delete what was acknowledged, since the last flush, in
        one transaction."""
        if not self._buffer and not self._acknowledged:
            return
        rows, self._buffer = self._buffer, []
        acknowledged, self._acknowledged = self._acknowledged, {}
        sequences = {session_id: self._next[session_id] for session_id, *_ in rows}
        with self._db:
            self._db.execute("BEGIN")
            self._db.executemany("INSERT OR REPLACE INTO events VALUES (?, ?, ?, ?, ?)", rows)
            self._db.executemany(
                "INSERT OR REPLACE INTO sequences VALUES (?, ?)", sequences.items()
            )
            self._db.executemany(
                "DELETE FROM events WHERE session_id = ? AND seq <= ?", acknowledged.items()
            )

    def sessions_with_events(self) -> list[str]:
        return [session_id for session_id, events in self._unacked.items() if events]

    def pending(
        self, session_id: str, *, after: int = 0, limit: int, max_bytes: int
    ) -> list[OutboxEvent]:
        """The oldest unacknowledged events of a session numbered past `after` (what is sent
        and not yet acknowledged), at most `limit` and about `max_bytes` of payload (always at
        least one). Flushes first: nothing is sent that is not on disk."""
        self.flush()
        unacked = self._unacked.get(session_id)
        if not unacked:
            return []
        events: list[OutboxEvent] = []
        size = 0
        # Numbered one after another: those up to `after` are skipped without looking at them.
        for event in itertools.islice(unacked, max(0, after - unacked[0].seq + 1), None):
            size += event.size + EVENT_OVERHEAD_BYTES
            if len(events) >= limit or (events and size > max_bytes):
                break
            events.append(event)
        return events

    def acknowledge(self, session_id: str, seq: int) -> None:
        """The control plane stored the session's events up to `seq`: they are not sent again,
        and leave the file at the next flush."""
        events = self._unacked.get(session_id)
        while events and events[0].seq <= seq:
            events.popleft()
            self.unacknowledged -= 1
        self._acknowledged[session_id] = max(seq, self._acknowledged.get(session_id, seq))

    def forget(self, session_id: str) -> None:
        """The session is gone for good (deleted on the control plane)."""
        self.flush()
        self._next.pop(session_id, None)
        self.unacknowledged -= len(self._unacked.pop(session_id, ()))
        with self._db:
            self._db.execute("BEGIN")
            self._db.execute("DELETE FROM events WHERE session_id = ?", (session_id,))
            self._db.execute("DELETE FROM sequences WHERE session_id = ?", (session_id,))
