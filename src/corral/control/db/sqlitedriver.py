"""SQLite for the event loop in one trip per statement.

aiosqlite runs each SQLite call on the connection's own thread, and SQLAlchemy's adapter makes four
such calls per statement (open a cursor, execute, fetch the rows, close the cursor), plus one
for the rollback that ends every pooled checkout. Each call is a round trip: a thread wakes, runs,
and hands the result back to the event loop at its next turn. On an idle machine a trip costs
microseconds; on a busy one (terminals flooding, agents compiling) it costs a turn of a loaded loop
or a wait for a CPU, and an API request of five statements waited twenty of them (bench/load.py).

`OneTripConnection` is aiosqlite's connection with a cursor that executes, fetches and closes in
a single call on the thread, and a commit or rollback that skips the trip when no transaction is
open. SQLAlchemy takes it through `create_async_engine(async_creator=...)`, its public hook for
bringing one's own asyncio driver connection; the dialect, pool and SQL are unchanged.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, cast

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import SQLiteDialect_aiosqlite
from sqlalchemy.engine import URL

__all__ = ["OneTripConnection", "connector"]

_Outcome = tuple[Any, int, int | None, list[Any]]
"""A statement's description, rowcount, lastrowid and rows, as read on the thread."""


def _run(connection: sqlite3.Connection, sql: str, parameters: Any, many: bool) -> _Outcome:
    """On the connection's thread: the whole statement, its rows read and its cursor closed."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        elif parameters is None:
            cursor.execute(sql)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class _OneTripCursor:
    """The async cursor SQLAlchemy's adapter drives, whose results are all here after `execute`:
    fetching and closing need no trip."""

    arraysize = 1

    def __init__(self, connection: OneTripConnection) -> None:
        self._connection = connection
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self._rows: list[Any] = []

    async def __aenter__(self) -> _OneTripCursor:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        return None

    async def execute(self, sql: str, parameters: Any = None) -> _OneTripCursor:
        await self._take(sql, parameters, many=False)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> _OneTripCursor:
        await self._take(sql, list(parameters), many=True)
        return self

    async def _take(self, sql: str, parameters: Any, *, many: bool) -> None:
        outcome = await self._connection.run_statement(sql, parameters, many)
        self.description, self.rowcount, self.lastrowid, self._rows = outcome

    async def fetchone(self) -> Any:
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        size = self.arraysize if size is None else size
        rows, self._rows = self._rows[:size], self._rows[size:]
        return rows

    async def fetchall(self) -> Sequence[Any]:
        rows, self._rows = self._rows, []
        return rows

    async def close(self) -> None:
        self._rows = []


class OneTripConnection(aiosqlite.Connection):
    def cursor(self) -> _OneTripCursor:  # type: ignore[override]  # no trip to make one
        return _OneTripCursor(self)

    async def run_statement(self, sql: str, parameters: Any, many: bool) -> _Outcome:
        on_thread = cast(Callable[..., Awaitable[_Outcome]], self._execute)
        return await on_thread(_run, self._conn, sql, parameters, many)

    async def commit(self) -> None:
        if self.in_transaction:
            await super().commit()

    async def rollback(self) -> None:
        # Every checkout ends with one; most reads never began a transaction.
        if self.in_transaction:
            await super().rollback()


def connector(url: URL, **connect_args: Any) -> Callable[[], Awaitable[OneTripConnection]]:
    """The `async_creator` for an engine on `url`: SQLite opened as SQLAlchemy would open it
    (the same file, URI and thread arguments), plus `connect_args`."""
    args, kwargs = SQLiteDialect_aiosqlite().create_connect_args(url)
    (database,) = args
    options: dict[str, Any] = {**kwargs, **connect_args}

    def open_database() -> sqlite3.Connection:
        opened: sqlite3.Connection = sqlite3.connect(database, **options)
        return opened

    async def connect() -> OneTripConnection:
        connection = OneTripConnection(open_database, iter_chunk_size=64)
        connection._thread.daemon = True  # as SQLAlchemy sets it: never hold the process open
        await connection
        return connection

    return connect
