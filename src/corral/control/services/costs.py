"""What cloud nodes cost: each node's price per hour times the hours its machine existed.

Counted from when the provider made the machine to when it was deleted (or now), in fractions
of an hour. Providers bill in their own steps (Hetzner by the started hour, capped at a monthly
price), so this is an estimate that errs low by at most an hour per machine; it is what the
per-user spending limit compares against.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import Node

__all__ = [
    "Spend",
    "hours_left_in_month",
    "month_start",
    "node_cost",
    "spend_by_user",
    "spend_of",
]


def month_start(now: datetime) -> datetime:
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def _next_month(now: datetime) -> datetime:
    start = month_start(now)
    return (
        start.replace(year=start.year + 1, month=1)
        if start.month == 12
        else start.replace(month=start.month + 1)
    )


def hours_left_in_month(now: datetime) -> float:
    return (_next_month(now) - now).total_seconds() / 3600


def node_cost(node: Node, since: datetime, until: datetime) -> float:
    """What `node`'s machine cost between `since` and `until`."""
    if node.hourly_price is None or node.billing_started_at is None:
        return 0.0
    start = max(node.billing_started_at, since)
    end = min(node.billing_ended_at or until, until)
    if end <= start:
        return 0.0
    return node.hourly_price * (end - start).total_seconds() / 3600


@dataclass
class Spend:
    """One user's cloud spending in one currency."""

    user_id: str
    currency: str
    this_month: float = 0.0
    per_hour_now: float = 0.0
    """What their machines that exist now cost per hour."""


def spend_of(rows: Iterable[Node], now: datetime) -> dict[tuple[str, str], Spend]:
    since = month_start(now)
    spend: dict[tuple[str, str], Spend] = {}
    for node in rows:
        if node.hourly_price is None or node.billing_started_at is None:
            continue
        currency = node.currency or ""
        entry = spend.setdefault(
            (node.user_id, currency), Spend(user_id=node.user_id, currency=currency)
        )
        entry.this_month += node_cost(node, since, now)
        if node.billing_ended_at is None:
            entry.per_hour_now += node.hourly_price
    return spend


async def spend_by_user(
    db: AsyncSession, now: datetime, *, user_id: str | None = None
) -> list[Spend]:
    """This month's spending of each user (or of `user_id` only), by currency."""
    statement = select(Node).where(
        Node.billing_started_at.is_not(None),
        or_(Node.billing_ended_at.is_(None), Node.billing_ended_at >= month_start(now)),
    )
    if user_id is not None:
        statement = statement.where(Node.user_id == user_id)
    rows = (await db.scalars(statement)).all()
    by_user: defaultdict[str, list[Spend]] = defaultdict(list)
    for spend in spend_of(rows, now).values():
        by_user[spend.user_id].append(spend)
    return [spend for user in sorted(by_user) for spend in by_user[user]]
