"""session usage in two fields

A session's `usage` held whichever the agent reported last: a `usage_update` (context window
and cost) or a turn's token counts. They are now kept apart, in `context_usage` and
`turn_usage`; what was stored moves to the one it is.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 07:20:31.238096
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The conversions as they were when this migration was written (a migration does not follow
# later changes to `corral.control.services.sessions.usage`).
TURN_FIELDS = {
    "totalTokens": "total_tokens",
    "inputTokens": "input_tokens",
    "outputTokens": "output_tokens",
    "thoughtTokens": "thought_tokens",
    "cachedReadTokens": "cached_read_tokens",
    "cachedWriteTokens": "cached_write_tokens",
}

sessions = sa.table(
    "agent_sessions",
    sa.column("id", sa.String),
    sa.column("usage", sa.JSON),
    sa.column("context_usage", sa.JSON),
    sa.column("turn_usage", sa.JSON),
)


def _count(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return int(value)


def _cost(cost: Any) -> dict[str, Any] | None:
    if not isinstance(cost, dict):
        return None
    amount, currency = cost.get("amount"), cost.get("currency")
    if isinstance(amount, bool) or not isinstance(amount, int | float):
        return None
    if not math.isfinite(amount) or not isinstance(currency, str) or not currency:
        return None
    return {"amount": float(amount), "currency": currency[:16]}


def _split(usage: dict[str, Any]) -> dict[str, Any]:
    if usage.get("sessionUpdate") == "usage_update":
        context = {"used": _count(usage.get("used")), "size": _count(usage.get("size"))}
        return {"context_usage": {**context, "cost": _cost(usage.get("cost"))}}
    turn = {ours: _count(usage.get(acp)) for acp, ours in TURN_FIELDS.items()}
    return {"turn_usage": turn} if any(v is not None for v in turn.values()) else {}


def upgrade() -> None:
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("context_usage", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("turn_usage", sa.JSON(), nullable=True))

    connection = op.get_bind()
    for session_id, usage in connection.execute(sa.select(sessions.c.id, sessions.c.usage)):
        moved = _split(usage) if isinstance(usage, dict) else {}
        if moved:
            connection.execute(sessions.update().where(sessions.c.id == session_id).values(**moved))

    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.drop_column("usage")


def downgrade() -> None:
    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("usage", sa.JSON(), nullable=True))

    connection = op.get_bind()
    rows = connection.execute(
        sa.select(sessions.c.id, sessions.c.context_usage, sessions.c.turn_usage)
    )
    for session_id, context, turn in rows:
        usage = None
        if isinstance(turn, dict):
            usage = {acp: turn.get(ours) for acp, ours in TURN_FIELDS.items()}
        elif isinstance(context, dict):
            usage = {"sessionUpdate": "usage_update", **context}
        if usage is not None:
            connection.execute(
                sessions.update().where(sessions.c.id == session_id).values(usage=usage)
            )

    with op.batch_alter_table("agent_sessions", schema=None) as batch_op:
        batch_op.drop_column("turn_usage")
        batch_op.drop_column("context_usage")
