"""A session's transcript: its events as viewers get them (`event_json`), written in one
multi-row INSERT a batch (`EventBatch`), and read back as a summary for an agent that cannot
load the earlier conversation (`summary`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import AgentSession, SessionEvent
from corral.protocol.sessions import SessionEventKind, payload_json

__all__ = ["SUMMARY_CHARS", "EventBatch", "conversation", "event_json", "summary", "text_of"]

SUMMARY_CHARS = 20_000

LiveEvent = tuple[int, str]
"""An event's sequence number and its JSON as viewers get it (what `SessionHub` carries)."""


def event_json(session_id: str, seq: int, kind: str, payload: str, at: str) -> str:
    """One event as viewers get it, around its payload's JSON (serialized once); `at` is the
    time in ISO 8601."""
    return (
        f'{{"session_id":"{session_id}","seq":{seq},"kind":"{kind}",'
        f'"payload":{payload},"at":"{at}"}}'
    )


class EventBatch:
    """A session's new events: stored with one INSERT executed for all rows, and published to
    viewers once the caller has committed.

    The INSERT is handed to the driver as SQL and rows of plain values: each event's JSON is
    made once (for the database and the viewers alike), and SQLAlchemy's per-row work (its
    parameter dictionaries and type processing), the largest cost on the control plane's side
    of a flood of events after validation (bench/events.py), is skipped. The values are what
    the column types would have made: the payload's JSON text, and the time as the dialect
    stores it (SQLite: the text SQLAlchemy writes; PostgreSQL: the aware datetime)."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.rows: list[tuple[str, int, str, str, datetime]] = []
        self.published: list[LiveEvent] = []
        self._times: list[str] = []
        """Each row's time in ISO 8601, made once for the viewers and SQLite alike."""

    def add(self, seq: int, kind: str, payload: dict[str, Any], at: datetime) -> None:
        """`at` is aware (the node link refuses naive times)."""
        text = payload_json(payload).decode()
        iso = at.isoformat()
        self.rows.append((self.session_id, seq, kind, text, at))
        self._times.append(iso)
        self.published.append((seq, event_json(self.session_id, seq, kind, text, iso)))

    async def insert(self, db: AsyncSession) -> None:
        if not self.rows:
            return
        connection = await db.connection()
        dialect = connection.dialect
        # The settings allow only these two drivers (`corral.settings.DATABASE_DRIVERS`).
        statement = _INSERT_EVENTS[dialect.paramstyle]
        rows: list[tuple[Any, ...]] = self.rows
        if dialect.name == "sqlite":
            rows = [
                (*row[:4], _sqlite_time(row[4], iso))
                for row, iso in zip(self.rows, self._times, strict=True)
            ]
        await connection.exec_driver_sql(statement, rows)


def _sqlite_time(at: datetime, iso: str) -> str:
    """As SQLAlchemy's `DateTime` stores it on SQLite (in UTC, which `UTCDateTime` reads it as):
    from the ISO text made already when the time is in UTC, as nodes send it."""
    if iso.endswith("+00:00"):
        text = f"{iso[:10]} {iso[11:-6]}"
        return text if len(text) == 26 else f"{text}.000000"
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


_INSERT_EVENTS = {
    "qmark": "INSERT INTO session_events (session_id, seq, kind, payload, created_at) "
    "VALUES (?, ?, ?, ?, ?)",
    "numeric_dollar": "INSERT INTO session_events (session_id, seq, kind, payload, created_at) "
    "VALUES ($1, $2, $3, $4, $5)",
}
"""The INSERT of `EventBatch` in the parameter styles of SQLite's and asyncpg's drivers."""


def text_of(update: dict[str, Any]) -> str:
    content = update.get("content")
    if isinstance(content, dict) and content.get("type") == "text":
        return str(content.get("text", ""))
    return ""


async def conversation(db: AsyncSession, session_id: str) -> Sequence[SessionEvent]:
    """The session's prompts and the agent's updates, in order (no permission or state events)."""
    return (
        await db.scalars(
            select(SessionEvent)
            .where(
                SessionEvent.session_id == session_id,
                SessionEvent.kind.in_([SessionEventKind.PROMPT, SessionEventKind.UPDATE]),
            )
            .order_by(SessionEvent.seq)
        )
    ).all()


async def summary(db: AsyncSession, row: AgentSession) -> str:
    """The conversation so far, for an agent that cannot load it: prompts and replies, newest
    kept when it is long."""
    events = await conversation(db, row.id)
    lines: list[str] = []
    speaker = None
    for event in events:
        if event.kind == SessionEventKind.PROMPT:
            lines.append(f"\nUser: {event.payload.get('text', '')}")
            speaker = "user"
        elif event.payload.get("sessionUpdate") == "agent_message_chunk":
            text = text_of(event.payload)
            if speaker != "agent":
                lines.append("\nAgent: ")
                speaker = "agent"
            lines[-1] += text
    transcript = "".join(lines).strip()[-SUMMARY_CHARS:]
    return (
        "This conversation continues an earlier session whose agent process has ended. "
        "The transcript so far:\n\n" + transcript + "\n\n(end of the earlier transcript)"
    )
