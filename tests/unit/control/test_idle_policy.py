"""The idle policy running in the control plane, on a node in memory: an idle workspace stops by
itself and says why, and what keeps one running (an agent mid-turn, a permission request, a
viewer, an opt-out) does so however long it lasts.

A timeout here is under a second. Whether a workspace was left alone is read once a witness has
stopped: a workspace made after it, with nothing going on, so the check that stopped the witness
found the other past its deadline too, had nothing held it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from corral.control.db.base import utcnow
from corral.control.db.models import ActivityEvent, Project, User, Workspace
from corral.control.reconcilers import (
    enforce_idle_policy_forever,
    place_workspaces,
    write_activity,
)
from corral.control.services import idle, projects, workspaces
from corral.control.state import AppState
from corral.states import SessionState, WorkspaceState
from tests.support.memnode import MemoryNode
from tests.support.waits import eventually
from tests.unit.control.conftest import Site, add_project

W = WorkspaceState
TIMEOUT_MINUTES = 0.01
"""0.6 s: the control plane's default idle timeout in these tests."""


@pytest.fixture
def setting_overrides() -> dict[str, Any]:
    """An idle timeout under a second, checked often."""
    return {
        "idle": {
            "default_timeout_minutes": TIMEOUT_MINUTES,
            "check_interval_seconds": 0.05,
            "activity_write_interval_seconds": 0.05,
        }
    }


@asynccontextmanager
async def policy(state: AppState) -> AsyncIterator[None]:
    """The idle policy's loops, as the app's lifespan runs them; started once a test has set
    up what it checks, however long that took."""
    task = asyncio.create_task(enforce_idle_policy_forever(state))
    try:
        yield
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


@pytest.fixture(autouse=True)
async def witnesses(state: AppState, owner: User) -> Project:
    """The project of the witnesses, with no idle setting of its own."""
    return await add_project(state, owner, "witnesses")


async def _workspace(state: AppState, owner: User, name: str) -> Workspace:
    async with state.db() as db:
        return await workspaces.get_workspace(db, owner.id, name)


async def _running(
    state: AppState, owner: User, node: MemoryNode, name: str, project: str = "app"
) -> Workspace:
    async with state.db() as db:
        created = await workspaces.create_workspace(
            db, owner.id, project_ref=project, name=name, branch=None, node_ref=None
        )
    assert await place_workspaces(state) == 1
    await node.report(created.id, W.RUNNING)
    return created


async def _stopped(state: AppState, owner: User, name: str) -> Workspace:
    async def check() -> Workspace | None:
        found = await _workspace(state, owner, name)
        return found if found.state == W.STOPPED else None

    return await eventually(check, f"workspace {name} stopped")


async def _left_alone(site: Site, witness: str = "witness", still: W = W.RUNNING) -> None:
    """Once a workspace made now (in a project with no idle setting) has stopped for being
    idle, the site's is still running (or `still` in that state)."""
    await _running(site.state, site.owner, site.node, witness, project="witnesses")
    await _stopped(site.state, site.owner, witness)
    assert (await _workspace(site.state, site.owner, site.workspace.name)).state == still


async def _rebuilding(site: Site) -> None:
    """The site's workspace being rebuilt, as its node has begun to."""
    site.node.rebuildable.add("host")
    async with site.state.db() as db:
        rebuilt = await workspaces.rebuild_workspace(
            db, site.state.node_registry, site.state.provisioning_logs, site.owner.id, "ws"
        )
    assert rebuilt.state == W.REBUILDING


async def _events(state: AppState, workspace_id: str) -> list[ActivityEvent]:
    async with state.db() as db:
        rows = await db.scalars(
            select(ActivityEvent)
            .where(ActivityEvent.object_id == workspace_id)
            .order_by(ActivityEvent.id)
        )
        return list(rows)


async def test_an_idle_workspace_stops_by_itself_and_says_why(site: Site) -> None:
    async with policy(site.state):
        stopped = await _stopped(site.state, site.owner, "ws")
    assert stopped.state_reason == "stopped after 1 s idle"
    assert site.node.sent("workspace.stop")[-1].id == stopped.id
    events = await _events(site.state, stopped.id)
    actions = [(e.action, e.actor_id, e.details.get("reason")) for e in events][-3:]
    assert actions == [
        ("workspace.stopping", None, "stopped after 1 s idle"),
        ("workspace.stopped", None, "stopped after 1 s idle"),
        ("workspace.idle_stopped", None, "stopped after 1 s idle"),
    ]
    assert events[-1].details["idle_timeout_minutes"] == TIMEOUT_MINUTES


async def test_an_agent_mid_turn_keeps_its_workspace_running(site: Site) -> None:
    row = await site.start()
    await site.prompt(row.id, "work for a long time")
    await site.node.flush()
    assert (await site.session(row.id)).state == SessionState.RUNNING
    async with policy(site.state):
        await _left_alone(site)
        await site.node.finish_turn(row.id, reply="done")
        await _stopped(site.state, site.owner, "ws")


async def test_a_permission_request_keeps_its_workspace_running(site: Site) -> None:
    row = await site.start()
    await site.prompt(row.id, "edit a file")
    await site.node.flush()
    await site.node.ask_permission(row.id)
    assert (await site.session(row.id)).state == SessionState.AWAITING_PERMISSION
    async with policy(site.state):
        await _left_alone(site)


async def test_a_viewer_keeps_its_workspace_running_until_it_leaves(
    site: Site,
) -> None:
    async with policy(site.state):
        with site.state.presence.watching(site.workspace.id):
            await _left_alone(site)
        await _stopped(site.state, site.owner, "ws")


async def test_a_workspace_being_rebuilt_or_waiting_for_a_node_is_never_idle(
    site: Site,
) -> None:
    await _rebuilding(site)
    running = await _running(site.state, site.owner, site.node, "idle")
    async with site.state.db() as db:
        waiting = await workspaces.create_workspace(
            db, site.owner.id, project_ref="app", name="waiting", branch=None, node_ref=None
        )
    assert waiting.state == W.PENDING  # placement does not run here
    async with site.state.db() as db:
        rows = (await db.scalars(select(Workspace).order_by(Workspace.name))).all()
        statuses = await idle.idle_statuses(
            db, rows, default_timeout_minutes=TIMEOUT_MINUTES, presence=site.state.presence
        )
        due = await idle.find_idle(
            db,
            site.state.node_registry,
            site.state.presence,
            default_timeout_minutes=TIMEOUT_MINUTES,
            now=utcnow() + timedelta(days=1),
        )
    assert [item.workspace_id for item in due] == [running.id]
    for quiet in (site.workspace.id, waiting.id):
        assert (statuses[quiet].stop_at, statuses[quiet].last_active_at) == (None, None)


async def test_a_rebuilt_workspace_is_idle_from_when_it_runs_again(site: Site) -> None:
    await _rebuilding(site)
    async with policy(site.state):
        await _left_alone(site, still=W.REBUILDING)
        await site.node.report(site.workspace.id, W.RUNNING)
        stopped = await _stopped(site.state, site.owner, "ws")
    events = [e.action for e in await _events(site.state, stopped.id)]
    assert events[-5:] == [
        "workspace.rebuilding",
        "workspace.running",
        "workspace.stopping",
        "workspace.stopped",
        "workspace.idle_stopped",
    ]


async def test_a_project_or_workspace_can_opt_out(site: Site) -> None:
    async with site.state.db() as db:
        await projects.update_project(
            db,
            site.owner.id,
            "app",
            idle_timeout_minutes=0,
            repo_check_timeout_seconds=5,
            box=site.state.secret_box,
            github_settings=site.state.settings.github,
        )
    async with policy(site.state):
        await _left_alone(site, "witness-1")
        # Its own opt-out, before the project's goes: it is never without one.
        async with site.state.db() as db:
            await idle.set_workspace_idle_timeout(db, site.owner.id, "ws", 0)
            await projects.update_project(
                db,
                site.owner.id,
                "app",
                idle_timeout_minutes=None,
                repo_check_timeout_seconds=5,
                box=site.state.secret_box,
                github_settings=site.state.settings.github,
            )
        await _left_alone(site, "witness-2")
        async with site.state.db() as db:
            await idle.set_workspace_idle_timeout(db, site.owner.id, "ws", None)
        await _stopped(site.state, site.owner, "ws")


async def test_its_chats_resume_after_it_is_started_again(site: Site) -> None:
    row = await site.start()
    await site.prompt(row.id, "remember the word walnut")
    await site.node.flush()
    await site.node.finish_turn(row.id, reply="walnut it is")
    async with policy(site.state):
        await _stopped(site.state, site.owner, "ws")
    await site.node.flush()
    stopped = await site.session(row.id)
    assert stopped.state == SessionState.STOPPED
    async with site.state.db() as db:
        await workspaces.start_workspace(db, site.state.node_registry, site.owner.id, "ws")
    await site.prompt(row.id, "and now?")
    await site.node.flush()
    resumed = await site.session(row.id)
    assert resumed.state == SessionState.RUNNING
    restart = site.node.sent("session.start")[-1]
    assert restart.load_session_id == stopped.acp_session_id
    assert [e.seq for e in await site.events(row.id)] == list(range(1, resumed.last_seq + 1))


async def test_typing_is_written_at_most_once_a_round_and_moves_the_deadline(
    site: Site,
) -> None:
    presence = site.state.presence
    before = await _workspace(site.state, site.owner, "ws")
    assert before.last_active_at is None
    for _ in range(1000):
        presence.touch(site.workspace.id)
    typed = presence.latest(site.workspace.id)
    assert await write_activity(site.state) == 1
    assert await write_activity(site.state) == 0
    after = await _workspace(site.state, site.owner, "ws")
    assert after.last_active_at == typed
    async with site.state.db() as db:
        status = (
            await idle.idle_statuses(
                db, [after], default_timeout_minutes=TIMEOUT_MINUTES, presence=presence
            )
        )[after.id]
    assert status.last_active_at == typed
    assert typed is not None and status.stop_at is not None and status.stop_at > typed
