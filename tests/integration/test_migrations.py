"""Migrations build the whole schema from empty on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import corral.control.db.models  # noqa: F401  (registers every table)
from corral.control.db.base import Base
from corral.control.db.engine import create_engine
from corral.control.db.migrate import upgrade

TIMES = ("state_changed_at", "created_at", "updated_at")
ENTITIES = {
    "users",
    "api_tokens",
    "login_links",
    "web_sessions",
    "credentials",
    "projects",
    "nodes",
    "node_join_tokens",
    "workspaces",
    "agent_sessions",
    "session_events",
    "activity_events",
}


async def test_upgrade_from_empty_creates_every_table_and_matches_the_models(database_url):
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await upgrade(engine)  # a second run at head changes nothing and does not fail
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
            diff = await connection.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()
    assert tables >= ENTITIES | {"alembic_version"}
    assert diff == [], f"models and migrations differ: {diff}"


async def test_state_fields_and_timestamps_exist(database_url):
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as connection:
            columns = await connection.run_sync(
                lambda c: {t: {col["name"] for col in inspect(c).get_columns(t)} for t in ENTITIES}
            )
    finally:
        await engine.dispose()
    for table in ("nodes", "workspaces", "agent_sessions"):
        assert {"state", "state_reason", "state_changed_at", "created_at", "updated_at"} <= columns[
            table
        ], table
    assert {"session_id", "seq", "kind", "payload", "created_at"} <= columns["session_events"]


async def test_a_sessions_usage_moves_to_the_field_it_belongs_in(database_url):
    now = datetime.now(UTC)
    users = sa.table(
        "users",
        *(sa.column(c) for c in ("id", "name", "role", "state")),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    sessions = sa.table(
        "agent_sessions",
        *(sa.column(c) for c in ("id", "user_id", "agent", "policy", "state", "last_seq")),
        *(sa.column(c, sa.DateTime(timezone=True)) for c in TIMES),
        *(sa.column(c, sa.JSON) for c in ("usage", "context_usage", "turn_usage")),
    )
    stored = {
        "ses_context": {
            "sessionUpdate": "usage_update",
            "used": 53_000,
            "size": 200_000,
            "cost": {"amount": 1.5, "currency": "USD"},
        },
        "ses_turn": {"totalTokens": 14_000, "inputTokens": 12_000, "outputTokens": 2_000},
        "ses_none": None,
    }
    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0004")
        async with engine.begin() as connection:
            await connection.execute(
                users.insert().values(
                    id="usr_1",
                    name="u",
                    role="owner",
                    state="active",
                    created_at=now,
                    updated_at=now,
                )
            )
            for session_id, usage in stored.items():
                await connection.execute(
                    sessions.insert().values(
                        id=session_id,
                        user_id="usr_1",
                        agent="claude",
                        policy="ask",
                        state="stopped",
                        last_seq=0,
                        usage=usage,
                        **dict.fromkeys(TIMES, now),
                    )
                )
        await upgrade(engine)
        async with engine.connect() as connection:
            rows = await connection.execute(
                sa.select(sessions.c.id, sessions.c.context_usage, sessions.c.turn_usage)
            )
            moved = {row.id: (row.context_usage, row.turn_usage) for row in rows}
    finally:
        await engine.dispose()
    assert moved == {
        "ses_context": (
            {"used": 53_000, "size": 200_000, "cost": {"amount": 1.5, "currency": "USD"}},
            None,
        ),
        "ses_turn": (
            None,
            {
                "total_tokens": 14_000,
                "input_tokens": 12_000,
                "output_tokens": 2_000,
                "thought_tokens": None,
                "cached_read_tokens": None,
                "cached_write_tokens": None,
            },
        ),
        "ses_none": (None, None),
    }
