"""What holds a running workspace, read from its sessions in the database: a session at work,
and a permission request still waiting for a person."""

from __future__ import annotations

from corral.control.db.models import AgentSession, PermissionRequest, Workspace
from corral.control.db.models.sessions import PermissionState
from corral.control.presence import Presence
from corral.control.services.idle import Hold, idle_statuses
from corral.ids import new_id
from corral.states import SessionState
from tests.unit.control.conftest import Site


async def _hold(site: Site) -> Hold | None:
    async with site.state.db() as db:
        workspace = await db.get(Workspace, site.workspace.id)
        assert workspace is not None
        statuses = await idle_statuses(
            db, [workspace], default_timeout_minutes=30, presence=Presence()
        )
    return statuses[site.workspace.id].hold


async def _set_state(site: Site, session_id: str, state: SessionState) -> None:
    async with site.state.db() as db:
        session = await db.get(AgentSession, session_id)
        assert session is not None
        session.state = state
        await db.commit()


async def test_a_pending_permission_request_holds_whatever_its_sessions_state(site: Site) -> None:
    session = await site.start()
    await _set_state(site, session.id, SessionState.IDLE)
    assert await _hold(site) is None
    await _set_state(site, session.id, SessionState.RUNNING)
    assert await _hold(site) == Hold.AGENT_WORKING
    async with site.state.db() as db:
        request = PermissionRequest(
            id=new_id("prm"),
            session_id=session.id,
            user_id=site.owner.id,
            state=PermissionState.PENDING,
            tool_call={},
            options=[],
        )
        db.add(request)
        await db.commit()
    await _set_state(site, session.id, SessionState.IDLE)  # the state lags the request
    assert await _hold(site) == Hold.PERMISSION_WAITING
    async with site.state.db() as db:
        decided = await db.get(PermissionRequest, request.id)
        assert decided is not None
        decided.state = PermissionState.ANSWERED
        await db.commit()
    assert await _hold(site) is None
