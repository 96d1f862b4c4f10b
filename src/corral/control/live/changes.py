"""Which of a user's lists changed, told to their open browsers as it happens.

The web app keeps lists (nodes, workspaces, sessions, permission requests, the activity feed) and
refetches one when told it changed, instead of polling. The telling is driven by the database:
every ORM flush notes the topics of the rows it wrote, and a commit publishes them. So a new
service, reconciler or node handler that changes a row is covered without remembering to publish,
and a rolled-back change is never announced. A notice carries no data: the browser reads the
list through the API, under the same authorization as any other read.

Notices are published after commit, so a browser that refetches on a notice sees the change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from corral.control.db.engine import DbSessionFactory, create_db_session_factory
from corral.control.db.models import (
    ActivityEvent,
    AgentSession,
    AgentSetting,
    Credential,
    CustomAgent,
    Node,
    PermissionRequest,
    Project,
    Workspace,
)
from corral.control.live.broker import Broker

__all__ = [
    "TOPICS",
    "ChangeFeed",
    "ChangeSubscription",
    "TrackedSession",
    "note_written",
    "tracked_db_session_factory",
]

# The topic of each tracked model: the name the web app's queries are keyed by. API tokens,
# web sessions and login links are left out on purpose: they are written on every request.
TOPICS: dict[type, str] = {
    Node: "nodes",
    Workspace: "workspaces",
    AgentSession: "sessions",
    PermissionRequest: "permission-requests",
    ActivityEvent: "activity",
    Project: "projects",
    Credential: "credentials",
    CustomAgent: "agents",
    AgentSetting: "agents",
}

_FEED_INFO_KEY = "change_feed"
_PENDING_INFO_KEY = "pending_changes"


class ChangeSubscription:
    """One browser's pending topics; many notices before it reads them make one."""

    def __init__(self) -> None:
        self.topics: set[str] = set()
        self._ready = asyncio.Event()

    def add(self, topics: Any) -> None:
        self.topics.update(topics)
        self._ready.set()

    def lose(self) -> None:
        """Notices may have been lost: every list counts as changed."""
        self.add(set(TOPICS.values()))

    async def take(self) -> set[str]:
        """Wait for at least one topic, then return all pending ones."""
        await self._ready.wait()
        return self.take_nowait()

    def take_nowait(self) -> set[str]:
        self._ready.clear()
        topics, self.topics = self.topics, set()
        return topics


class ChangeFeed:
    """Changed topics by user id, over `broker` (channel `changes:<user id>`)."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker

    @contextmanager
    def subscribe(self, user_id: str) -> Iterator[ChangeSubscription]:
        subscription = ChangeSubscription()
        with self._broker.listen(_channel(user_id), subscription.add, subscription.lose):
            yield subscription

    def publish(self, changes: dict[str, set[str]]) -> None:
        """Tell each user's subscribers about their changed topics."""
        for user_id, topics in changes.items():
            self._broker.publish(_channel(user_id), sorted(topics))


def _channel(user_id: str) -> str:
    return f"changes:{user_id}"


class TrackedSession(Session):
    """The ORM session class of the control plane's database sessions: its flushes and commits
    feed the `ChangeFeed` in its `info` (see the listeners below)."""


def _note(session: Session, row: object) -> None:
    pending: dict[str, set[str]] = session.info.setdefault(_PENDING_INFO_KEY, {})
    topic = TOPICS.get(type(row))
    user_id = getattr(row, "user_id", None)
    if topic is not None and isinstance(user_id, str):
        pending.setdefault(user_id, set()).add(topic)


@event.listens_for(TrackedSession, "after_flush")
def _note_flushed(session: Session, _context: Any) -> None:
    for row in (*session.new, *session.dirty, *session.deleted):
        _note(session, row)


def note_written(db: AsyncSession, row: object) -> None:
    """Note `row` as changed by a statement the ORM did not flush (a conditional UPDATE), so
    that the commit tells its owner's browsers, as it would after a flush."""
    _note(db.sync_session, row)


@event.listens_for(TrackedSession, "after_commit")
def _publish_committed(session: Session) -> None:
    pending = session.info.pop(_PENDING_INFO_KEY, None)
    feed = session.info.get(_FEED_INFO_KEY)
    if pending and isinstance(feed, ChangeFeed):
        feed.publish(pending)


@event.listens_for(TrackedSession, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING_INFO_KEY, None)


def tracked_db_session_factory(engine: AsyncEngine, feed: ChangeFeed) -> DbSessionFactory:
    """Database sessions whose commits publish to `feed`."""
    return create_db_session_factory(
        engine, session_class=TrackedSession, info={_FEED_INFO_KEY: feed}
    )
