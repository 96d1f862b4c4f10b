"""Leases: how control plane processes sharing a database split the reconcilers' work.

A process claims a key (`node:<id>`) for a while before working on it and lets it go after;
another process skips a key held by someone else until the lease expires. Claiming is one
conditional UPDATE (or an INSERT that the primary key lets only one process win), so it is safe
on SQLite and PostgreSQL alike without locks held across provider calls. A holder that works
longer than a lease renews it (`hold`); one that dies simply stops renewing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.engine import DbSessionFactory
from corral.control.db.models import InstanceValue, Lease
from corral.ids import new_id

__all__ = ["claim", "hold", "instance_id", "release"]

log = logging.getLogger("corral.leases")

INSTANCE_ID = "instance_id"


async def claim(db: AsyncSession, key: str, holder: str, *, seconds: float) -> bool:
    """Take (or renew) the lease on `key` for `seconds`; False if another holder has it."""
    now = utcnow()
    expires = now + timedelta(seconds=seconds)
    taken = await db.execute(
        update(Lease)
        .where(Lease.key == key, or_(Lease.holder == holder, Lease.expires_at < now))
        .values(holder=holder, expires_at=expires)
    )
    if taken.rowcount == 0:  # type: ignore[attr-defined]
        if await db.scalar(select(Lease.key).where(Lease.key == key)) is not None:
            await db.rollback()
            return False
        db.add(Lease(key=key, holder=holder, expires_at=expires))
        try:
            await db.flush()
        except IntegrityError:  # another process inserted it first
            await db.rollback()
            return False
    await db.commit()
    return True


async def release(db: AsyncSession, key: str, holder: str) -> None:
    await db.execute(delete(Lease).where(Lease.key == key, Lease.holder == holder))
    await db.commit()


@contextlib.asynccontextmanager
async def hold(
    sessions: DbSessionFactory, key: str, holder: str, *, seconds: float
) -> AsyncIterator[bool]:
    """Claim `key`, yield whether this process got it, renew it every third of its length
    while the body runs (a provider call can take minutes), and release it afterwards."""
    async with sessions() as db:
        got = await claim(db, key, holder, seconds=seconds)
    if not got:
        yield False
        return

    async def renew() -> None:
        while True:
            await asyncio.sleep(seconds / 3)
            try:
                async with sessions() as db:
                    if not await claim(db, key, holder, seconds=seconds):
                        log.error("lost the lease on %s to another process", key)
                        return
            except Exception:
                log.exception("could not renew the lease on %s", key)

    renewer = asyncio.create_task(renew(), name=f"lease {key}")
    try:
        yield True
    finally:
        renewer.cancel()
        # `wait`, not `await renewer` under suppress(CancelledError): that would also swallow
        # a cancellation of this task arriving meanwhile, and its loop would never stop.
        await asyncio.wait([renewer])
        with contextlib.suppress(Exception):
            async with sessions() as db:
                await release(db, key, holder)


async def instance_id(db: AsyncSession) -> str:
    """This installation's id, made on first use and the same for every process after."""
    found = await db.scalar(select(InstanceValue.value).where(InstanceValue.name == INSTANCE_ID))
    if found is not None:
        return found
    db.add(InstanceValue(name=INSTANCE_ID, value=new_id("ins")))
    try:
        await db.commit()
    except IntegrityError:
        await db.rollback()
    value = await db.scalar(select(InstanceValue.value).where(InstanceValue.name == INSTANCE_ID))
    assert value is not None
    return value
