"""Database engines: SQLite in WAL mode as the embedded default (through `sqlitedriver`), PostgreSQL
through asyncpg."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from corral.control.db.sqlitedriver import connector
from corral.errors import CorralError

__all__ = [
    "DatabaseUnavailable",
    "DbSessionFactory",
    "JsonText",
    "create_db_session_factory",
    "create_engine",
    "redacted_url",
    "reporting_database_errors",
]

DbSessionFactory = async_sessionmaker[AsyncSession]

SQLITE_BUSY_TIMEOUT_MS = 5000


class JsonText(str):
    """A value for a JSON column that is serialized already: stored as it is, not encoded
    again (session events are serialized once, for the database and the viewers alike)."""


def _serialize_json(value: Any) -> str:
    if isinstance(value, JsonText):
        return str(value)
    return json.dumps(value)


def redacted_url(url: str) -> str:
    """The URL with its password hidden, for logs and error messages."""
    return make_url(url).render_as_string(hide_password=True)


class DatabaseUnavailable(CorralError):
    reason = "database_unavailable"


@contextmanager
def reporting_database_errors(url: str) -> Iterator[None]:
    """Turn a database that cannot be reached, logged in to or changed (at start-up, by
    migrations) into one line naming it and the server's reason, instead of a traceback that
    ends in a socket error. Only the driver's own message is kept: never a statement or its
    parameters, and the URL without its password."""
    try:
        yield
    except (OSError, DBAPIError) as exc:
        original = exc.orig if isinstance(exc, DBAPIError) else exc
        text = (original.strerror if isinstance(original, OSError) else None) or str(original)
        reason = text.strip().splitlines()[0] if text.strip() else ""
        raise DatabaseUnavailable(
            f"cannot use the database at {redacted_url(url)}: {reason or type(original).__name__}"
        ) from None


def create_engine(url: str) -> AsyncEngine:
    """An engine for `url`; statement parameters (which can hold project env values) are kept
    out of error messages and logs."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        engine = create_async_engine(
            url,
            async_creator=connector(parsed, timeout=SQLITE_BUSY_TIMEOUT_MS / 1000),
            hide_parameters=True,
            json_serializer=_serialize_json,
        )
        event.listen(engine.sync_engine, "connect", _configure_sqlite)
        return engine
    return create_async_engine(
        url, pool_pre_ping=True, hide_parameters=True, json_serializer=_serialize_json
    )


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers carry on while one writer commits; foreign keys are off unless asked for.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def create_db_session_factory(
    engine: AsyncEngine,
    *,
    session_class: type[Session] = Session,
    info: dict[str, Any] | None = None,
) -> DbSessionFactory:
    """Sessions on `engine`; `session_class` and `info` let the caller listen to what they do
    (see `corral.control.live.changes`)."""
    return async_sessionmaker(
        engine, expire_on_commit=False, sync_session_class=session_class, info=info
    )
