"""Migrations build the whole schema from empty on SQLite and PostgreSQL, matching the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

import corral.control.db.models  # noqa: F401  (registers every table)
from corral.control.db.base import Base
from corral.control.db.engine import create_engine
from corral.control.db.migrate import upgrade

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
