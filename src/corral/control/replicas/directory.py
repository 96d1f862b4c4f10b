"""Which replica holds each node's link, as this replica knows it.

A replica records the links it takes in `node_links` and tells the others at once through the
broker; every heartbeat it also reads the table whole, which catches up on anything missed and
forgets the links of replicas that stopped beating (killed, cut off). A node whose link a
replica lost relinks through the load balancer within seconds, to whichever replica it lands
on, and that replica's claim replaces the old one everywhere.

Times (heartbeats, claims) are the database's clock, so replicas on machines whose clocks
differ still agree on who is alive and which claim is the newer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert

from corral.control.db.engine import DbSessionFactory
from corral.control.db.models import NodeLinkHolder, Replica
from corral.control.live.broker import Broker
from corral.control.replicas.forwarding import ForwardedNodeConnection
from corral.control.replicas.signing import ReplicaSigner
from corral.errors import CorralError
from corral.settings import ReplicaSettings

__all__ = ["LINKS_CHANNEL", "Holder", "LinkDirectory", "ReplicaKeyMismatch"]

log = logging.getLogger("corral.replicas")

LINKS_CHANNEL = "replica-links"


class ReplicaKeyMismatch(CorralError):
    reason = "replica_key_mismatch"


@dataclass(frozen=True)
class Holder:
    replica_id: str
    url: str
    linked_at: datetime


class LinkDirectory:
    """This replica's name and address, and the node links the other replicas hold."""

    def __init__(
        self,
        db: DbSessionFactory,
        broker: Broker,
        settings: ReplicaSettings,
        signer: ReplicaSigner,
        *,
        replica_id: str,
        url: str,
        key_id: str,
        request_timeout_seconds: float,
    ) -> None:
        self.replica_id = replica_id
        self.url = url.rstrip("/")
        self.signer = signer
        self._key_id = key_id
        self._db = db
        self._broker = broker
        self._settings = settings
        self._request_timeout = request_timeout_seconds
        self._holders: dict[str, Holder] = {}
        self._client: httpx.AsyncClient | None = None
        self._listening: contextlib.ExitStack | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.local_nodes: Callable[[], Collection[str]] = tuple
        """The nodes linked to this replica (the registry's), for the heartbeat to check."""
        self.on_change: Callable[[], None] = lambda: None
        """Called when a node's holder changes (the registry wakes whoever waits for a node)."""
        self.on_claimed_elsewhere: Callable[[str], None] = lambda _node_id: None
        """Called with a node another replica took the link of (this one drops its own)."""
        self.on_cut: Callable[[str, str, int], None] = lambda _node_id, _reason, _code: None
        """Called with a node whose link is to be cut (removed on another replica)."""

    async def start(self) -> None:
        """Say where this replica is, after checking the live ones share its secret key."""
        async with self._db() as db:
            alive = await db.execute(
                select(Replica.id, Replica.key_id).where(
                    self._alive(), Replica.id != self.replica_id
                )
            )
            others = {replica_id: key for replica_id, key in alive if key != self._key_id}
            if others:
                raise ReplicaKeyMismatch(
                    f"replica {next(iter(others))} uses another secret key: every replica needs "
                    "the same CORRAL_SECRET_KEY (a key file per data directory differs)"
                )
            await db.execute(
                insert(Replica)
                .values(
                    id=self.replica_id,
                    url=self.url,
                    key_id=self._key_id,
                    started_at=func.now(),
                    seen_at=func.now(),
                )
                .on_conflict_do_update(
                    index_elements=["id"], set_={"url": self.url, "seen_at": func.now()}
                )
            )
            await db.commit()
        self._listening = contextlib.ExitStack()
        self._listening.enter_context(
            self._broker.listen(LINKS_CHANNEL, self._on_message, self._refresh_soon)
        )
        await self.refresh()
        self._spawn(self._beat_forever(), "replica-heartbeat")

    async def stop(self) -> None:
        """Leave: forget this replica's links and row, so the others stop forwarding here."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._listening is not None:
            self._listening.close()
        with contextlib.suppress(Exception):
            async with self._db() as db:
                await db.execute(
                    delete(NodeLinkHolder).where(NodeLinkHolder.replica_id == self.replica_id)
                )
                await db.execute(delete(Replica).where(Replica.id == self.replica_id))
                await db.commit()
        if self._client is not None:
            await self._client.aclose()

    def _spawn(self, work: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(work, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _alive(self) -> Any:
        return Replica.seen_at >= func.now() - timedelta(seconds=self._settings.dead_after_seconds)

    # -- where a node is -------------------------------------------------------------------------

    def holder(self, node_id: str) -> Holder | None:
        """The other replica that holds the node's link, if one does."""
        return self._holders.get(node_id)

    def forwarded(self, node_id: str, node_name: str | None) -> ForwardedNodeConnection | None:
        holder = self._holders.get(node_id)
        if holder is None:
            return None
        if self._client is None:  # made on first use: its TLS context takes a while
            self._client = httpx.AsyncClient(trust_env=False)
        return ForwardedNodeConnection(
            node_id,
            node_name or node_id,
            replica_id=holder.replica_id,
            replica_url=holder.url,
            client=self._client,
            signer=self.signer,
            request_timeout_seconds=self._request_timeout,
            margin_seconds=self._settings.forward_timeout_margin_seconds,
        )

    async def claim(self, node_id: str) -> None:
        """This replica holds the node's link now."""
        async with self._db() as db:
            linked_at = await self._claim(db, node_id)
            await db.commit()
        if self._holders.pop(node_id, None) is not None:
            self.on_change()
        self._broker.publish(
            LINKS_CHANNEL,
            {
                "node": node_id,
                "replica": self.replica_id,
                "url": self.url,
                "at": linked_at.isoformat(),
            },
        )

    async def _claim(self, db: Any, node_id: str) -> datetime:
        linked_at: datetime = await db.scalar(
            insert(NodeLinkHolder)
            .values(node_id=node_id, replica_id=self.replica_id, linked_at=func.now())
            .on_conflict_do_update(
                index_elements=["node_id"],
                set_={"replica_id": self.replica_id, "linked_at": func.now()},
            )
            .returning(NodeLinkHolder.linked_at)
        )
        return linked_at

    async def release(self, node_id: str) -> None:
        """This replica's link to the node is gone (another may hold a newer one already)."""
        async with self._db() as db:
            await db.execute(
                delete(NodeLinkHolder).where(
                    NodeLinkHolder.node_id == node_id,
                    NodeLinkHolder.replica_id == self.replica_id,
                )
            )
            await db.commit()
        self._broker.publish(
            LINKS_CHANNEL, {"node": node_id, "replica": None, "was": self.replica_id}
        )

    def cut(self, node_id: str, reason: str, code: int) -> None:
        """Have the replica holding the node's link cut it with `code` and `reason`."""
        self._broker.publish(
            LINKS_CHANNEL, {"node": node_id, "cut": reason, "code": code, "by": self.replica_id}
        )

    async def held_elsewhere(self, node_id: str) -> bool:
        """Whether the latest claim on the node's link is another replica's: the database
        orders claims, whatever order their notices arrive in."""
        async with self._db() as db:
            holder = await db.scalar(
                select(NodeLinkHolder.replica_id).where(NodeLinkHolder.node_id == node_id)
            )
        return holder is not None and holder != self.replica_id

    # -- keeping up ------------------------------------------------------------------------------

    def _on_message(self, message: Any) -> None:
        try:
            self._apply(message)
        except (KeyError, TypeError, ValueError):
            log.warning("dropped a malformed link notice")

    def _apply(self, message: dict[str, Any]) -> None:
        node_id, replica_id = message["node"], message.get("replica")
        if not isinstance(node_id, str):
            raise ValueError("no node")
        if "cut" in message:
            if message["by"] != self.replica_id:
                self.on_cut(node_id, str(message["cut"]), int(message["code"]))
            return
        if replica_id == self.replica_id or message.get("was") == self.replica_id:
            return  # this replica's own notice, delivered locally as well
        if replica_id is None:
            held = self._holders.get(node_id)
            if held is not None and held.replica_id == message["was"]:
                del self._holders[node_id]
                self.on_change()
            return
        held = self._holders.get(node_id)
        claim = Holder(str(replica_id), str(message["url"]), datetime.fromisoformat(message["at"]))
        if held is not None and held.linked_at > claim.linked_at:
            return  # an older claim's notice, arriving late
        self._holders[node_id] = claim
        self.on_claimed_elsewhere(node_id)
        self.on_change()

    def _refresh_soon(self) -> None:
        self._spawn(self._refresh_logged(), "replica-refresh")

    async def _refresh_logged(self) -> None:
        try:
            await self.refresh()
        except Exception:
            log.exception("could not read the replicas' node links; the heartbeat tries again")

    async def refresh(self) -> None:
        """Read every live replica's links from the database. A claim told meanwhile that is
        newer than what was read stays; the database's rows replace the rest."""
        async with self._db() as db:
            read_at = await db.scalar(select(func.now()))
            assert isinstance(read_at, datetime)
            rows = await db.execute(
                select(NodeLinkHolder.node_id, Replica.id, Replica.url, NodeLinkHolder.linked_at)
                .join(Replica, Replica.id == NodeLinkHolder.replica_id)
                .where(self._alive(), Replica.id != self.replica_id)
            )
            holders = {node_id: Holder(rid, url, at) for node_id, rid, url, at in rows}
        for node_id, held in self._holders.items():
            if held.linked_at > read_at and node_id not in holders:
                holders[node_id] = held
        if holders != self._holders:
            self._holders = holders
            local = set(self.local_nodes())
            for node_id in holders.keys() & local:
                self.on_claimed_elsewhere(node_id)
            self.on_change()

    async def _beat_forever(self) -> None:
        interval = self._settings.heartbeat_interval_seconds
        while True:
            await asyncio.sleep(interval)
            try:
                await self._beat()
                await self.refresh()
            except Exception:
                log.exception("the replica heartbeat failed; trying again")

    async def _beat(self) -> None:
        """Say this replica is alive, make its rows match the links it holds (a claim or a
        release that failed is put right here), and clear replicas long gone."""
        gone_before = func.now() - timedelta(seconds=self._settings.dead_after_seconds * 6)
        local = set(self.local_nodes())
        async with self._db() as db:
            beat = await db.execute(
                update(Replica).where(Replica.id == self.replica_id).values(seen_at=func.now())
            )
            if beat.rowcount == 0:  # type: ignore[attr-defined]
                db.add(
                    Replica(
                        id=self.replica_id,
                        url=self.url,
                        key_id=self._key_id,
                        started_at=func.now(),
                        seen_at=func.now(),
                    )
                )
            recorded = set(
                await db.scalars(
                    select(NodeLinkHolder.node_id).where(
                        NodeLinkHolder.replica_id == self.replica_id
                    )
                )
            )
            if recorded - local:
                await db.execute(
                    delete(NodeLinkHolder).where(
                        NodeLinkHolder.replica_id == self.replica_id,
                        NodeLinkHolder.node_id.in_(recorded - local),
                    )
                )
            for node_id in local - recorded:
                if not await self.held_elsewhere(node_id):
                    await self._claim(db, node_id)
            # Replicas long gone (killed, never back): their rows and links are only clutter.
            gone = select(Replica.id).where(Replica.seen_at < gone_before).scalar_subquery()
            await db.execute(delete(NodeLinkHolder).where(NodeLinkHolder.replica_id.in_(gone)))
            await db.execute(delete(Replica).where(Replica.seen_at < gone_before))
            await db.commit()
