"""A session's transcript: its events as viewers get them (`event_json`), written in one
multi-row INSERT a batch (`EventBatch`), and read back as a summary for an agent that cannot
load the earlier conversation (`summary`)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.engine import JsonText
from corral.control.db.models import AgentSession, SessionEvent
from corral.protocol.sessions import SessionEventKind

__all__ = ["SUMMARY_CHARS", "EventBatch", "conversation", "event_json", "summary", "text_of"]

SUMMARY_CHARS = 20_000

LiveEvent = tuple[int, str]
"""An event's sequence number and its JSON as viewers get it (what `SessionHub` carries)."""


def event_json(session_id: str, seq: int, kind: str, payload: str, at: datetime) -> str:
    """One event as viewers get it, around its payload's JSON (serialized once)."""
    return (
        f'{{"session_id":"{session_id}","seq":{seq},"kind":"{kind}",'
        f'"payload":{payload},"at":"{at.isoformat()}"}}'
    )


class EventBatch:
    """A session's new events: stored with one multi-row INSERT (the ORM's unit of work per row
    was the bottleneck), and published to viewers once the caller has committed."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self.rows: list[dict[str, Any]] = []
        self.published: list[LiveEvent] = []

    def add(self, seq: int, kind: str, payload: dict[str, Any], at: datetime) -> None:
        text = JsonText(json.dumps(payload, separators=(",", ":"), ensure_ascii=False))
        self.rows.append(
            {
                "session_id": self.session_id,
                "seq": seq,
                "kind": kind,
                "payload": text,
                "created_at": at,
            }
        )
        self.published.append((seq, event_json(self.session_id, seq, kind, text, at)))

    async def insert(self, db: AsyncSession) -> None:
        if self.rows:
            await db.execute(insert(cast(Table, SessionEvent.__table__)), self.rows)


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
