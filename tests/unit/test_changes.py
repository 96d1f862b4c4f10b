"""The change feed: a commit tells each owner which of their lists changed; a rollback tells
nobody; one user never hears of another's rows."""

from __future__ import annotations

import asyncio
from pathlib import Path

from corral.control.db.base import Base
from corral.control.db.engine import create_engine
from corral.control.db.models import ActivityEvent, Project, User, UserRole, UserState
from corral.control.live import ChangeFeed, LocalBroker, tracked_db_session_factory


def _user(user_id: str) -> User:
    return User(id=user_id, name=user_id, role=UserRole.MEMBER, state=UserState.ACTIVE)


def _project(user_id: str, name: str) -> Project:
    return Project(id=f"p-{name}", user_id=user_id, name=name, repo="x", default_branch="main")


async def _feed_test(database: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{database}")
    async with engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    feed = ChangeFeed(LocalBroker())
    sessions = tracked_db_session_factory(engine, feed)
    async with sessions() as db:
        db.add_all([_user("alice"), _user("bob")])
        await db.commit()

    with feed.subscribe("alice") as alice, feed.subscribe("bob") as bob:
        async with sessions() as db:
            db.add(_project("alice", "one"))
            await db.flush()
            await db.rollback()
        assert alice.take_nowait() == set()

        async with sessions() as db:
            db.add(_project("alice", "two"))
            db.add(
                ActivityEvent(
                    user_id="alice",
                    action="project.created",
                    object_type="project",
                    object_id="p-two",
                    object_name="two",
                    details={},
                )
            )
            await db.commit()
        assert await asyncio.wait_for(alice.take(), 5) == {"projects", "activity"}
        assert bob.take_nowait() == set()

        async with sessions() as db:
            project = await db.get(Project, "p-two")
            assert project is not None
            project.default_branch = "dev"
            await db.commit()
        assert alice.take_nowait() == {"projects"}
    await engine.dispose()


def test_commits_tell_their_owner_and_rollbacks_tell_nobody(tmp_path: Path) -> None:
    asyncio.run(_feed_test(tmp_path / "feed.db"))
