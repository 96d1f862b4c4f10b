"""The SQLite driver under the control plane: SQLAlchemy's results, errors and transactions as
with aiosqlite itself, in one trip to the connection's thread per statement."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine

from corral.control.db.engine import create_engine
from corral.control.db.sqlitedriver import OneTripConnection


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'test.db'}")
    async with engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)")
        )
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every call made on a connection's thread, by name."""
    made: list[str] = []
    original = OneTripConnection._execute

    async def counted(self: OneTripConnection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        made.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(OneTripConnection, "_execute", counted)
    return made


async def test_rows_counts_and_ids_come_back(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO items (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        many = await connection.execute(
            text("INSERT INTO items (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
        )
        assert many.rowcount == 2
        updated = await connection.execute(text("UPDATE items SET name = name || '!'"))
        assert updated.rowcount == 3
        result = await connection.execute(text("SELECT id, name FROM items ORDER BY id"))
        assert result.keys() == ["id", "name"]
        assert result.first() == (1, "a!")
        one = await connection.execute(text("SELECT name FROM items WHERE id = 3"))
        assert one.scalar_one() == "c!"


async def test_errors_are_sqlalchemys_and_roll_back(engine: AsyncEngine) -> None:
    with pytest.raises(IntegrityError):
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO items (name) VALUES ('a')"))
            await connection.execute(text("INSERT INTO items (name) VALUES ('a')"))
    with pytest.raises(OperationalError, match="no such table"):
        async with engine.connect() as connection:
            await connection.execute(text("SELECT * FROM missing_table"))
    async with engine.connect() as connection:
        count = await connection.execute(text("SELECT count(*) FROM items"))
        assert count.scalar_one() == 0  # the first insert went with its transaction


async def test_a_committed_write_is_seen_by_another_connection(engine: AsyncEngine) -> None:
    async with engine.connect() as writer, engine.connect() as reader:
        await writer.execute(text("INSERT INTO items (name) VALUES ('kept')"))
        await writer.commit()
        names = await reader.execute(text("SELECT name FROM items"))
        assert names.scalars().all() == ["kept"]


async def test_a_statement_is_one_trip_and_a_read_ends_without_one(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.connect() as connection:  # the pool's connection, opened already
        await connection.execute(text("SELECT 1"))
    trips.clear()
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT id, name FROM items"))
        assert rows.all() == []
    # aiosqlite under SQLAlchemy's adapter made five: cursor, execute, fetchall, close, rollback.
    assert trips == ["_run"]
    trips.clear()
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO items (name) VALUES ('x')"))
    assert trips == ["_run", "commit"]
