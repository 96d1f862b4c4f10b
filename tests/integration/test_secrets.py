"""A credential's value goes in and never comes out: not in answers, logs, nor the database.

A canary value is stored, replaced, listed and read back, and also sent down error paths; then
every answer, the OpenAPI document, every log record and the database's rows and files are
searched for it. The value is also decrypted from its row, to show the search would have found it
had it been stored in the clear, and is bound to its owner.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import uuid
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import MetaData, Text, cast, select
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from corral.control.db.models import Credential, CredentialKind
from corral.control.secretbox import SecretBoxError
from corral.control.services.credentials import MAX_VALUE_BYTES, reveal_credential
from corral.logs import JsonFormatter
from corral.settings import Settings
from tests.support.api import ApiUser, app_state

NAME = "anthropic-key"
URL = f"/api/v1/credentials/{NAME}"


def new_canary() -> str:
    return "sk-ant-canary-" + uuid.uuid4().hex


def forms(secret: str) -> list[bytes]:
    """The secret as it could show up: whole, in part, as hex, and as base64 at any alignment."""
    raw, random_part = secret.encode(), secret.rsplit("-", 1)[-1].encode()
    found = [raw, raw.hex().encode()]
    # Any 12 characters of the random part; the last four are shown on purpose.
    found += [random_part[i : i + 12] for i in range(len(random_part) - 11)]
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            found.append(encode(raw[shift:])[:-4])  # the last group depends on what follows
    return found


def leaks(secrets: Iterable[str], where: str, haystack: bytes | str) -> list[str]:
    """One line per secret found in `haystack`, naming the form it was found in."""
    data = haystack.encode() if isinstance(haystack, str) else haystack
    found = ((secret, [form for form in forms(secret) if form in data]) for secret in secrets)
    return [f"{where} holds {secret!r} as {hits[0]!r}" for secret, hits in found if hits]


def log_texts(records: Iterable[logging.LogRecord]) -> list[str]:
    """Each record as the JSON line Corral writes (extra fields and traceback included)."""
    formatter = JsonFormatter()
    return [f"{formatter.format(r)}\n{r.getMessage()}\n{r.args!r}" for r in records]


class Recorder:
    """Keeps every answer the test client receives, so none escapes the search."""

    def __init__(self) -> None:
        self.responses: list[httpx.Response] = []

    async def __call__(self, response: httpx.Response) -> None:
        await response.aread()
        self.responses.append(response)

    def leaks(self, secrets: Iterable[str]) -> list[str]:
        found: list[str] = []
        for r in self.responses:
            where = f"the answer to {r.request.method} {r.request.url.path} ({r.status_code})"
            found += leaks(secrets, f"{where}: body", r.content)
            for key, value in r.headers.raw:
                found += leaks(secrets, f"{where}: header {key!r}", key + b": " + value)
        return found


def assert_error_shape(response: httpx.Response, status: int) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] and body["error"]["message"], body


async def database_dump(engine: AsyncEngine) -> dict[str, list[bytes]]:
    """Every row of every table, per table: bytes columns as stored, everything else as text."""

    def reflect(connection: Connection) -> MetaData:
        metadata = MetaData()
        metadata.reflect(connection)
        return metadata

    dump: dict[str, list[bytes]] = {}
    async with engine.connect() as connection:
        metadata = await connection.run_sync(reflect)
        for name, table in metadata.tables.items():
            values = dump.setdefault(name, [])
            for row in (await connection.execute(select(table))).all():
                for value in row:
                    is_bytes = isinstance(value, bytes | memoryview)
                    values.append(bytes(value) if is_bytes else str(value).encode())
            if connection.dialect.name == "postgresql":
                # PostgreSQL's own text form of each row (bytea as hex).
                as_text = select(cast(table.table_valued(), Text))
                values += [text.encode() for text in (await connection.scalars(as_text)).all()]
    return dump


def sqlite_files(settings: Settings) -> dict[Path, bytes]:
    database = make_url(settings.effective_database_url).database
    assert database, settings.effective_database_url
    main = Path(database)
    files = {
        path: path.read_bytes()
        for folder in (main.parent, settings.data_dir)
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }
    assert main in files and main.with_name(main.name + "-wal") in files, sorted(files)
    return files


async def credential_row(app: FastAPI, credential_id: str) -> Credential:
    async with app_state(app).db() as db:
        row = await db.scalar(select(Credential).where(Credential.id == credential_id))
    assert row is not None
    return row


async def reveal(app: FastAPI, credential_id: str) -> str:
    """Decrypt the stored value as Corral does to use it (which marks it used)."""
    async with app_state(app).db() as db:
        row = await db.scalar(select(Credential).where(Credential.id == credential_id))
        assert row is not None
        return await reveal_credential(db, app_state(app).secret_box, row)


async def reveal_copy(app: FastAPI, row: Credential, **changes: Any) -> str:
    """Decrypt a copy of `row` that is never stored, with some columns changed."""
    columns = ("id", "user_id", "name", "kind", "key_id", "nonce", "ciphertext", "last4")
    copy = Credential(**{column: getattr(row, column) for column in columns} | changes)
    async with app_state(app).db() as db:
        return await reveal_credential(db, app_state(app).secret_box, copy)


@pytest.fixture
async def recorder(client: httpx.AsyncClient) -> Recorder:
    record = Recorder()
    client.event_hooks["response"].append(record)
    return record


def test_leak_search_sees_tracebacks_and_encodings() -> None:
    """The search itself: a secret in an exception or encoded in a blob is found."""
    canary = new_canary()
    try:
        raise ValueError(f"bad value {canary}")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    assert leaks([canary], "log", log_texts([record])[0])
    for form in (canary.encode().hex(), base64.b64encode(b"xy" + canary.encode()).decode()):
        assert leaks([canary], "blob", f"<{form}>"), form
    assert not leaks([canary], "blob", canary[-4:] + new_canary())


async def test_credential_value_never_leaves_the_vault(
    app: FastAPI,
    client: httpx.AsyncClient,
    recorder: Recorder,
    owner: ApiUser,
    other_user: ApiUser,
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    canary, replacement = new_canary(), new_canary()
    headers = owner.headers

    created = await client.put(URL, json={"kind": "anthropic", "value": canary}, headers=headers)
    assert created.status_code == 201, created.text
    stored = created.json()
    assert "value" not in stored
    assert stored["last4"] == canary[-4:]
    first_row = await credential_row(app, stored["id"])
    assert first_row.ciphertext and first_row.nonce
    assert await reveal(app, first_row.id) == canary
    stored = (await client.get(URL, headers=headers)).json()

    json_headers = {**headers, "Content-Type": "application/json"}
    too_long = b'{"kind": "anthropic", "value": "' + canary.encode() + b"x" * (2 << 20) + b'"}'

    async def streamed() -> AsyncIterator[bytes]:
        for start in range(0, len(too_long), 1 << 16):
            yield too_long[start : start + (1 << 16)]

    anthropic = {"kind": "anthropic", "value": canary}
    attempts: list[tuple[int, str, dict[str, Any]]] = [
        (422, URL, {"json": {"kind": "no-such-kind", "value": canary}}),
        (422, URL, {"json": {"kind": "ssh-key", "value": canary}}),
        (422, URL, {"json": {"kind": "anthropic", "value": {"nested": canary}}}),
        (422, URL, {"json": {**anthropic, "unknown": canary}}),
        (422, "/api/v1/credentials/not-an-env-name", {"json": {"kind": "env", "value": canary}}),
        (422, URL, {"json": {"kind": "anthropic", "value": canary + "x" * MAX_VALUE_BYTES}}),
        (422, URL, {"content": too_long[:100], "headers": json_headers}),
        (413, URL, {"content": too_long, "headers": json_headers}),
        (413, URL, {"content": streamed(), "headers": json_headers}),
        (401, URL, {"json": anthropic, "headers": {}}),
        (401, URL, {"json": anthropic, "headers": {"Authorization": f"Bearer {canary}"}}),
        (401, URL, {"json": anthropic, "headers": {"Authorization": f"Basic {canary}"}}),
    ]
    refused = [
        (status, await client.put(url, **{"headers": headers} | request))
        for status, url, request in attempts
    ]
    unchanged = (await client.get(URL, headers=headers)).json()

    replaced = await client.put(
        URL, json={"kind": "anthropic", "value": replacement}, headers=headers
    )
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["id"] == stored["id"]
    assert replaced.json()["last4"] == replacement[-4:]
    listed = (await client.get("/api/v1/credentials", headers=headers)).json()["items"]
    assert [(c["name"], c["last4"]) for c in listed] == [(NAME, replacement[-4:])]
    assert (await client.get(f"/api/v1/credentials/{stored['id']}", headers=headers)).is_success
    activity = await client.get("/api/v1/activity?object_type=credential", headers=headers)
    actions = [event["action"] for event in activity.json()["items"]]
    assert actions == ["credential.replaced", "credential.created"]
    assert (await client.get("/api/v1/openapi.json")).is_success

    # Stored sealed, yet the right key opens it: the searches below would see a leak.
    row = await credential_row(app, stored["id"])
    assert row.last4 == replacement[-4:]
    assert await reveal(app, row.id) == replacement
    assert (await client.get(URL, headers=headers)).json()["last_used_at"] is not None

    secrets = (canary, replacement)
    found = recorder.leaks(secrets)
    found += leaks(secrets, "the OpenAPI document", json.dumps(app.openapi()))
    for text in log_texts(caplog.records):
        found += leaks(secrets, "a log record", text)
    found += leaks(secrets, "the captured log", caplog.text)
    dump = await database_dump(app_state(app).engine)
    for table, values in dump.items():
        for value in values:
            found += leaks(secrets, f"a row of table {table}", value)
    if app_state(app).engine.dialect.name == "postgresql":
        assert any(row.ciphertext.hex().encode() in value for value in dump["credentials"])
    else:
        files = sqlite_files(settings)
        assert any(row.ciphertext in data for data in files.values()), "ciphertext not on disk"
        found += [leak for path, data in files.items() for leak in leaks(secrets, str(path), data)]
    assert not found, "\n".join(found)

    # The searches looked where the value would be.
    assert any(row.ciphertext in value for value in dump["credentials"])
    access = [r for r in caplog.records if r.name == "corral.access"]
    assert any(getattr(r, "status", None) == 413 for r in access), "no access log captured"
    assert len(recorder.responses) >= len(attempts) + 8

    for status, response in refused:
        assert_error_shape(response, status)
    assert unchanged == stored, "a refused PUT changed the credential"

    # The associated data binds the value to its owner (and kind): a copy elsewhere won't open.
    assert await reveal_copy(app, row) == replacement
    with pytest.raises(SecretBoxError):
        await reveal_copy(app, row, user_id=other_user.id)
    with pytest.raises(SecretBoxError):
        await reveal_copy(app, row, kind=CredentialKind.OPENAI)


async def test_a_value_that_is_not_unicode_is_refused_without_leaking(
    app: FastAPI, owner: ApiUser, caplog: pytest.LogCaptureFixture
) -> None:
    """A lone surrogate (valid JSON, not valid UTF-8) is bad input, not a server failure."""
    caplog.set_level(logging.DEBUG)
    canary = new_canary()
    record = Recorder()
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", event_hooks={"response": [record]}
    ) as client:
        body = '{"kind": "anthropic", "value": "' + canary + '\\ud800"}'
        response = await client.put(
            URL,
            content=body.encode(),
            headers={**owner.headers, "Content-Type": "application/json"},
        )
        listed = await client.get("/api/v1/credentials", headers=owner.headers)
    assert listed.json()["items"] == []

    found = record.leaks([canary])
    for text in log_texts(caplog.records):
        found += leaks([canary], "a log record", text)
    assert not found, "\n".join(found)
    assert_error_shape(response, 422)
