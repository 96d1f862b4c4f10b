"""The broker between replicas, on a real PostgreSQL: two brokers stand for two replicas."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from corral.control.live.pgbroker import MAX_CHUNK_CHARS, PostgresBroker, asyncpg_dsn
from tests.support.postgres import PostgresServer
from tests.support.waits import eventually

WAIT_SECONDS = 10.0
KEY = b"k" * 32


@pytest.fixture
async def pair(postgres: PostgresServer) -> AsyncIterator[tuple[PostgresBroker, PostgresBroker]]:
    dsn = asyncpg_dsn(postgres.create_database())
    first, second = PostgresBroker(dsn, "rep_a", KEY), PostgresBroker(dsn, "rep_b", KEY)
    await first.start()
    await second.start()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def _until(check: Any, what: str) -> None:
    await eventually(lambda: bool(check()), what, wait_seconds=WAIT_SECONDS, interval=0.01)


async def test_messages_reach_listeners_of_both_replicas_once_and_in_order(
    pair: tuple[PostgresBroker, PostgresBroker],
) -> None:
    first, second = pair
    here: list[Any] = []
    there: list[Any] = []
    large = {"text": "é" * (3 * MAX_CHUNK_CHARS)}  # several notifications once escaped
    messages = [[n, f"event {n}"] for n in range(300)] + [large, "last"]
    with first.listen("session:s1", here.append), second.listen("session:s1", there.append):
        for message in messages:
            first.publish("session:s1", message)
        first.publish("session:other", "not for these listeners")
        await _until(lambda: len(there) == len(messages), "every message on the other replica")
    assert here == messages  # delivered in this process at once, not again from PostgreSQL
    assert there == messages


async def test_a_listener_is_told_when_its_replica_lost_the_channel(
    pair: tuple[PostgresBroker, PostgresBroker], postgres: PostgresServer
) -> None:
    first, second = pair
    got: list[Any] = []
    lost: list[bool] = []
    with second.listen("changes:u1", got.append, lambda: lost.append(True)):
        assert second._listener is not None
        pid = second._listener.get_server_pid()
        admin = await asyncpg.connect(asyncpg_dsn(postgres.create_database()))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
        # What was published while it was gone may be lost: the listener hears so, and then
        # hears what comes after.
        await _until(lambda: lost, "the listener told of the loss")
        first.publish("changes:u1", ["nodes"])
        await _until(lambda: got, "a message after listening again")
    assert got == [["nodes"]]


async def test_malformed_notifications_are_dropped(
    pair: tuple[PostgresBroker, PostgresBroker], postgres: PostgresServer
) -> None:
    """Whatever else sends on the channel (a mistake, an old version, a role that may connect
    to the database and forges messages) reaches no listener and breaks none."""
    first, second = pair
    got: list[Any] = []
    with second.listen("viewers:u1", got.append):
        assert first._publisher is None or not first._publisher.is_closed()
        sender = await asyncpg.connect(second._dsn)
        try:
            forged = PostgresBroker(second._dsn, "rep_x", b"x" * 32)
            unsigned = json.dumps(["viewers:u1", "forged"])
            for payload in (
                "garbage",
                "rep_x 1 0 1 {not json",
                "rep_x 2 1 3 part-without-start",
                f"rep_x 3 0 1 {'0' * 64}{unsigned}",  # no valid signature
                f"rep_x 4 0 1 {forged._mac('rep_x', 4, unsigned)}{unsigned}",  # another key
                f"rep_x 5 0 1 {first._mac('rep_x', 4, unsigned)}{unsigned}",  # another number
            ):
                await sender.execute("SELECT pg_notify('corral_live', $1)", payload)
        finally:
            await sender.close()
        first.publish("viewers:u1", "cut")
        await _until(lambda: got, "the good message")
    assert got == ["cut"]


async def test_a_replayed_notification_is_not_delivered_again(
    pair: tuple[PostgresBroker, PostgresBroker],
) -> None:
    """A role that may LISTEN and NOTIFY on the database sees the replicas' signed messages: sent
    again as they were (a viewer cut off again and again), they reach no listener."""
    first, second = pair
    heard: list[str] = []
    spy = await asyncpg.connect(second._dsn)
    try:
        await spy.add_listener("corral_live", lambda *args: heard.append(args[3]))
        got: list[Any] = []
        with second.listen("viewers:u1", got.append):
            first.publish("viewers:u1", "cut")
            await _until(lambda: got and heard, "the message, and the spy's copy")
            await spy.execute("SELECT pg_notify('corral_live', $1)", heard[0])
            first.publish("viewers:u1", "after")
            await _until(lambda: len(got) == 2, "the next message")
    finally:
        await spy.close()
    assert got == ["cut", "after"]


async def test_messages_a_replica_dropped_are_told_to_the_others_listeners(
    pair: tuple[PostgresBroker, PostgresBroker], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A replica that could not send for long drops its oldest messages: the other replicas'
    feeds hear of the gap (and catch up from the database) instead of missing them silently."""
    first, second = pair
    got: list[Any] = []
    lost: list[bool] = []
    with second.listen("session:s1", got.append, lambda: lost.append(True)):
        first.publish("session:s1", "before")
        await _until(lambda: got, "the first message")
        monkeypatch.setattr("corral.control.live.pgbroker.MAX_QUEUED_MESSAGES", 2)
        for n in range(5):  # before its sender runs: the first three are dropped
            first.publish("session:s1", n)
        await _until(lambda: len(got) == 3, "the messages kept")
    assert got == ["before", 3, 4]
    assert lost == [True]
