"""A broker between control plane replicas sharing one PostgreSQL database: LISTEN/NOTIFY.

Each replica listens on one PostgreSQL channel and sends there what its feeds publish, tagged
with the feed's channel; a message is also handed to this process's own listeners at once,
without the round trip, and the replica skips its own notifications when they come back.

NOTIFY takes at most 8000 bytes: a longer message goes as several notifications in one
transaction, which PostgreSQL delivers together and in order, and is put together again here.
One task sends what was published, in order and in batches, on a connection of its own.

If the listening connection drops, messages sent meanwhile are lost to this replica: it
connects again and then tells every listener (`Broker.listen`'s `lost`), and the feeds catch up
from the database.

Each replica numbers its messages. A receiver that sees a number skipped (messages the sender
dropped while PostgreSQL was unreachable, or a part that never came) tells every listener too.

Any role that may connect to the database may NOTIFY, so each message carries an HMAC under a
key the replicas derive from the secret key, over its sender, number and content; one without a
valid HMAC is dropped, and so is one whose number its sender has used already (a replay). The
channel does not work through a pooler in transaction mode (PgBouncer's default): give the
control plane a direct connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import logging
from collections import deque
from collections.abc import Iterator
from contextlib import AbstractContextManager
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from corral.control.live.broker import Broker, Deliver, LocalBroker, Lost

__all__ = ["BROKER_KEY_PURPOSE", "PG_CHANNEL", "PostgresBroker", "asyncpg_dsn"]

log = logging.getLogger("corral.broker")

PG_CHANNEL = "corral_live"
BROKER_KEY_PURPOSE = "corral broker messages v1"
"""What the message key is derived from the secret key for (`SecretBox.derive`)."""
MAX_CHUNK_CHARS = 7_800
"""Of a message's JSON per notification (ASCII: escaped), leaving room for the header under
PostgreSQL's 8000-byte payload limit."""
MAX_QUEUED_MESSAGES = 100_000
"""Messages waiting to be sent while PostgreSQL is unreachable; older ones are dropped."""
BATCH_MESSAGES = 500
MAX_SENDERS_IN_PROGRESS = 64
"""Messages being put together at once (one per sending replica); more are dropped."""
MAC_CHARS = 64
MAX_SENDERS_REMEMBERED = 1_000
"""Replicas whose last message number is kept (each start of a replica is a new one)."""
SQLALCHEMY_ONLY_OPTIONS = frozenset(
    {"prepared_statement_cache_size", "prepared_statement_name_func", "async_fallback"}
)
KEEPALIVE_SECONDS = 5.0
RETRY_SECONDS = 1.0

_Failure = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError)


def asyncpg_dsn(database_url: str) -> str:
    """asyncpg's connection string for the SQLAlchemy URL the engine uses (without the options
    only SQLAlchemy's dialect reads, which PostgreSQL would refuse as settings)."""
    url = make_url(database_url)
    query = {k: v for k, v in url.query.items() if k not in SQLALCHEMY_ONLY_OPTIONS}
    return url.set(drivername="postgresql", query=query).render_as_string(hide_password=False)


class PostgresBroker(Broker):
    def __init__(self, dsn: str, sender: str, key: bytes) -> None:
        """`dsn` is asyncpg's connection string; `sender` names this replica (unique); `key`
        signs and checks messages (the same on every replica)."""
        self._dsn = dsn
        self._sender = sender
        self._key = key
        self._local = LocalBroker()
        self._queue: deque[tuple[int, str]] = deque()
        """Messages to send: their numbers and their signed JSON."""
        self._wake = asyncio.Event()
        self._sent = asyncio.Event()
        """Set while nothing waits to be sent."""
        self._sent.set()
        self._dropped = asyncio.Event()
        self._numbers = itertools.count()
        self._partial: dict[str, tuple[int, list[str]]] = {}
        """Of each sender, the message being put together: its number and parts so far."""
        self._last: dict[str, int] = {}
        """Of each sender, the number of the last message received."""
        self._listener: asyncpg.Connection | None = None
        self._publisher: asyncpg.Connection | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        """Listen (failing if PostgreSQL cannot be reached) and start sending."""
        await self._connect_listener()
        self._tasks = [
            asyncio.create_task(self._send_forever(), name="broker-sender"),
            asyncio.create_task(self._keep_listening(), name="broker-listener"),
        ]

    async def close(self, flush_seconds: float = 2.0) -> None:
        """Send what is queued (for up to `flush_seconds`), then stop."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._flushed(), flush_seconds)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for connection in (self._listener, self._publisher):
            if connection is not None:
                with contextlib.suppress(Exception):
                    await connection.close(timeout=flush_seconds)

    # -- Broker ----------------------------------------------------------------------------------

    def publish(self, channel: str, message: Any) -> None:
        self._local.publish(channel, message)
        if len(self._queue) >= MAX_QUEUED_MESSAGES:
            # Its number goes with it: the other replicas see the gap and catch up.
            self._queue.popleft()
            log.error("the broker's queue is full (PostgreSQL unreachable?): a message is lost")
        number = next(self._numbers)
        encoded = json.dumps([channel, message], separators=(",", ":"))
        self._queue.append((number, self._mac(self._sender, number, encoded) + encoded))
        self._sent.clear()
        self._wake.set()

    def listen(
        self, channel: str, deliver: Deliver, lost: Lost | None = None
    ) -> AbstractContextManager[None]:
        return self._local.listen(channel, deliver, lost)

    def _mac(self, sender: str, number: int, encoded: str) -> str:
        signed = f"{sender} {number} {encoded}".encode()
        return hmac.new(self._key, signed, hashlib.sha256).hexdigest()

    # -- sending ---------------------------------------------------------------------------------

    def _payloads(self, number: int, signed: str) -> Iterator[str]:
        chunks = [
            signed[start : start + MAX_CHUNK_CHARS]
            for start in range(0, len(signed), MAX_CHUNK_CHARS)
        ] or [""]
        for part, chunk in enumerate(chunks):
            yield f"{self._sender} {number} {part} {len(chunks)} {chunk}"

    async def _send_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                batch = [
                    self._queue.popleft() for _ in range(min(BATCH_MESSAGES, len(self._queue)))
                ]
                try:
                    await self._send(batch)
                except _Failure as exc:
                    self._queue.extendleft(reversed(batch))
                    log.warning("could not publish to PostgreSQL (%s); trying again", exc)
                    await self._drop_publisher()
                    await asyncio.sleep(RETRY_SECONDS)
            self._sent.set()

    async def _send(self, batch: list[tuple[int, str]]) -> None:
        if self._publisher is None or self._publisher.is_closed():
            self._publisher = await asyncpg.connect(self._dsn)
        rows = [
            (PG_CHANNEL, payload)
            for number, signed in batch
            for payload in self._payloads(number, signed)
        ]
        async with self._publisher.transaction():
            await self._publisher.executemany("SELECT pg_notify($1, $2)", rows)

    async def _drop_publisher(self) -> None:
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.terminate()

    async def _flushed(self) -> None:
        await self._sent.wait()

    # -- listening -------------------------------------------------------------------------------

    async def _connect_listener(self) -> None:
        listener = await asyncpg.connect(self._dsn)
        await listener.add_listener(PG_CHANNEL, self._on_notification)
        listener.add_termination_listener(self._on_terminated)
        self._listener = listener

    def _on_terminated(self, connection: Any) -> None:
        if connection is self._listener:  # not one this broker let go of itself
            self._dropped.set()

    async def _keep_listening(self) -> None:
        """Check the listening connection every few seconds (a dead one says nothing); when it
        is gone, connect again and tell the listeners what they may have missed."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._dropped.wait(), KEEPALIVE_SECONDS)
            try:
                assert self._listener is not None
                await asyncio.wait_for(self._listener.execute("SELECT 1"), KEEPALIVE_SECONDS)
                if not self._dropped.is_set():
                    continue
            except _Failure as exc:
                log.warning("lost the PostgreSQL channel (%s); listening again", exc)
            await self._listen_again()

    async def _listen_again(self) -> None:
        old, self._listener = self._listener, None  # its termination is not a new drop
        if old is not None:
            old.terminate()
        while True:
            try:
                self._dropped.clear()
                await self._connect_listener()
                break
            except _Failure as exc:
                log.warning("could not listen on PostgreSQL (%s); trying again", exc)
                await asyncio.sleep(RETRY_SECONDS)
        self._partial.clear()
        self._last.clear()
        self._local.lose_all()

    def _on_notification(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        try:
            sender, number_text, part, parts, chunk = payload.split(" ", 4)
            number = int(number_text)
            if sender == self._sender:
                return
            if parts == "1":
                self._deliver(sender, number, chunk)
                return
            if part == "0":
                if sender not in self._partial and len(self._partial) >= MAX_SENDERS_IN_PROGRESS:
                    raise ValueError("too many messages in progress")
                self._partial[sender] = (number, [chunk])
                return
            held = self._partial.get(sender)
            if held is None or held[0] != number:
                raise ValueError("a part of a message whose beginning was not received")
            held[1].append(chunk)
            if int(part) + 1 == int(parts):
                del self._partial[sender]
                self._deliver(sender, number, "".join(held[1]))
        except Exception as exc:
            log.warning("dropped a broker notification: %s", exc)

    def _deliver(self, sender: str, number: int, signed: str) -> None:
        mac, encoded = signed[:MAC_CHARS], signed[MAC_CHARS:]
        if not hmac.compare_digest(mac, self._mac(sender, number, encoded)):
            raise ValueError("a broker message without a valid signature")
        last = self._last.get(sender)
        if last is not None and number <= last:
            raise ValueError(f"replica {sender}'s message {number} again (a replay)")
        channel, message = json.loads(encoded)
        if not isinstance(channel, str):
            raise ValueError("a broker message without a channel")
        if len(self._last) >= MAX_SENDERS_REMEMBERED and sender not in self._last:
            self._last.clear()  # replicas long gone; the live ones are learnt again
        self._last[sender] = number
        if last is not None and number > last + 1:
            log.warning(
                "missed %d broker messages from replica %s; the live feeds catch up",
                number - last - 1,
                sender,
            )
            self._local.lose_all()
        self._local.publish(channel, message)
