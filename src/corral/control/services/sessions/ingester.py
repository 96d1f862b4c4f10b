"""Session events from every node link, stored several batches to a transaction.

A fleet streams many small batches: 500 sessions at 20 updates a second, sent four times a
second, are 2,000 batches of five events each second. Stored one transaction each, the commits
and the trips around them are the control plane's whole work. The `Ingester` takes the batches
in the order they arrive (from all links), and stores whatever has queued up while the previous
transaction ran in one transaction: one commit for all of them, then each viewer's events are
published and each node answered. Under light load a batch waits for nothing; under heavy load
the transactions grow and their number stays about what the database can commit.

Order: one queue, served in arrival order, so a node's batches (which may be several in
flight) are stored in the order the node sent them. A batch that fails (an unknown session, a
malformed event) fails alone: the others of its transaction are stored again without it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass, field

from corral.control.db.engine import DbSessionFactory
from corral.control.live.sessions import SessionHub
from corral.control.services.sessions.ingest import stage
from corral.control.services.sessions.transcript import LiveEvent
from corral.errors import CorralError
from corral.protocol.sessions import SessionEvents

__all__ = ["MAX_BATCHES_PER_TRANSACTION", "Ingester"]

log = logging.getLogger("corral.sessions")

MAX_BATCHES_PER_TRANSACTION = 200
MAX_EVENTS_PER_TRANSACTION = 10_000


@dataclass
class _Queued:
    node_id: str
    batch: SessionEvents
    answer: asyncio.Future[int] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Ingester:
    def __init__(self, db: DbSessionFactory, hub: SessionHub) -> None:
        self._db = db
        self._hub = hub
        self._queue: deque[_Queued] = deque()
        self._worker: asyncio.Task[None] | None = None

    async def store(self, node_id: str, batch: SessionEvents) -> int:
        """Store a node's batch (see `ingest.stage`); return the highest number stored."""
        queued = _Queued(node_id, batch)
        # Its failure is read even when the request that waited for it has gone.
        queued.answer.add_done_callback(lambda done: done.cancelled() or done.exception())
        self._queue.append(queued)
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(
                self._work(), name="session event ingester"
            )
        # Shielded: a request cancelled (its link dropped) leaves the batch to be stored, as
        # it would be had it arrived a moment earlier; the node sends it again and it is ignored.
        return await asyncio.shield(queued.answer)

    async def finish(self) -> None:
        """Store what is queued (at shutdown, before the database closes)."""
        if self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)

    async def _work(self) -> None:
        while self._queue:
            group = self._take()
            try:
                await self._store(group)
            except Exception:
                # One batch spoilt the transaction: store each alone, so only it fails.
                for queued in group:
                    await self._store_alone(queued)

    def _take(self) -> list[_Queued]:
        group: list[_Queued] = []
        events = 0
        while self._queue and len(group) < MAX_BATCHES_PER_TRANSACTION:
            if group and events + len(self._queue[0].batch.events) > MAX_EVENTS_PER_TRANSACTION:
                break
            queued = self._queue.popleft()
            group.append(queued)
            events += len(queued.batch.events)
        return group

    async def _store(self, group: list[_Queued]) -> None:
        staged: list[tuple[_Queued, int, list[LiveEvent]]] = []
        async with self._db() as db:
            for queued in group:
                acked, published = await stage(db, queued.node_id, queued.batch)
                staged.append((queued, acked, published))
            await db.commit()
        for queued, acked, published in staged:
            if published:
                self._hub.publish(queued.batch.session_id, published)
            if not queued.answer.done():
                queued.answer.set_result(acked)

    async def _store_alone(self, queued: _Queued) -> None:
        try:
            await self._store([queued])
        except Exception as exc:
            if not isinstance(exc, CorralError):
                log.exception("storing session %s's events failed", queued.batch.session_id)
            if not queued.answer.done():
                queued.answer.set_exception(exc)
