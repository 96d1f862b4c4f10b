"""Agents' permission requests: waiting in the user's list, answered through the node with one
of the agent's options, and cancelled (in the transcript too) when their session ends, however
it ends."""

from __future__ import annotations

import pytest

from corral.control.db.models import PermissionRequest, PermissionState
from corral.control.services.sessions import permissions
from corral.errors import Conflict, InvalidInput, NotFound
from corral.protocol.sessions import PermissionAnswer
from corral.states import SessionState
from tests.unit.control.conftest import Site


async def _requests(site: Site, *, pending_only: bool = False) -> list[PermissionRequest]:
    async with site.state.db() as db:
        rows, _ = await permissions.list_permission_requests(
            db, site.owner.id, pending_only=pending_only, limit=50, cursor=None
        )
    return list(rows)


async def _answer(site: Site, request_id: str, option_id: str | None) -> PermissionRequest:
    async with site.state.db() as db:
        return await permissions.answer_permission(
            db, site.state.node_registry, site.owner.id, request_id, option_id=option_id
        )


async def _asking(site: Site) -> tuple[str, str]:
    """A session whose agent asks to edit a file during a turn: its id and the request's."""
    row = await site.start()
    await site.prompt(row.id, "edit a.txt")
    return row.id, await site.node.ask_permission(row.id)


async def test_a_request_waits_in_the_list_and_the_session_awaits_it(site: Site) -> None:
    session_id, request_id = await _asking(site)
    (waiting,) = await _requests(site, pending_only=True)
    assert (waiting.id, waiting.session_id) == (request_id, session_id)
    assert waiting.state == PermissionState.PENDING
    assert waiting.tool_call["title"] == "Edit a.txt"
    assert [o["optionId"] for o in waiting.options] == ["allow", "reject"]
    assert (await site.session(session_id)).state == SessionState.AWAITING_PERMISSION


async def test_an_answer_reaches_the_agent_and_the_turn_goes_on(site: Site) -> None:
    session_id, request_id = await _asking(site)
    answered = await _answer(site, request_id, "allow")
    assert (answered.state, answered.option_id) == (PermissionState.ANSWERED, "allow")
    assert answered.decided_by == site.owner.id
    (sent,) = site.node.sent("session.permission")
    assert sent == PermissionAnswer(
        session_id=session_id, request_id=request_id, option_id="allow", by=site.owner.id
    )
    await site.node.flush()
    assert (await site.session(session_id)).state == SessionState.RUNNING
    assert await _requests(site, pending_only=True) == []
    decision = (await site.events(session_id))[-2]
    assert decision.kind == "permission_decision"
    assert decision.payload["outcome"] == "selected"


async def test_no_option_cancels_the_request(site: Site) -> None:
    _, request_id = await _asking(site)
    cancelled = await _answer(site, request_id, None)
    assert cancelled.state == PermissionState.CANCELLED
    assert site.node.sent("session.permission")[0].option_id is None


async def test_an_option_the_agent_did_not_offer_is_refused_naming_those_it_did(
    site: Site,
) -> None:
    _, request_id = await _asking(site)
    with pytest.raises(
        InvalidInput, match="'always' is not one of the agent's options: allow, reject"
    ):
        await _answer(site, request_id, "always")
    assert site.node.sent("session.permission") == []


async def test_a_request_is_answered_once(site: Site) -> None:
    _, request_id = await _asking(site)
    await _answer(site, request_id, "reject")
    with pytest.raises(Conflict, match=f"permission request {request_id} is already answered"):
        await _answer(site, request_id, "allow")
    assert len(site.node.sent("session.permission")) == 1


async def test_another_users_request_is_not_found(site: Site) -> None:
    _, request_id = await _asking(site)
    async with site.state.db() as db:
        with pytest.raises(NotFound, match="no permission request"):
            await permissions.answer_permission(
                db, site.state.node_registry, "usr_someone_else", request_id, option_id="allow"
            )


async def _assert_cancelled_by_the_end(site: Site, session_id: str, request_id: str) -> None:
    (request,) = await _requests(site)
    assert (request.id, request.state) == (request_id, PermissionState.CANCELLED)
    assert request.policy == permissions.SESSION_ENDED
    last = (await site.events(session_id))[-1]
    assert last.kind == "permission_decision"
    assert last.payload == {
        "request_id": request_id,
        "outcome": "cancelled",
        "option_id": None,
        "by": None,
        "policy": "session ended",
    }


async def test_stopping_the_session_cancels_its_waiting_request_in_the_transcript(
    site: Site,
) -> None:
    session_id, request_id = await _asking(site)
    await site.stop(session_id)
    assert (await _requests(site, pending_only=True))[0].id == request_id  # until the node says
    await site.node.flush()
    assert (await site.session(session_id)).state == SessionState.STOPPED
    await _assert_cancelled_by_the_end(site, session_id, request_id)


async def test_a_crash_cancels_the_waiting_request(site: Site) -> None:
    session_id, request_id = await _asking(site)
    await site.node.crash(session_id, "the agent exited with status 2")
    await _assert_cancelled_by_the_end(site, session_id, request_id)


async def test_stopping_with_the_node_gone_cancels_the_request_at_once(site: Site) -> None:
    session_id, request_id = await _asking(site)
    await site.node.unlink()
    await site.stop(session_id)
    await _assert_cancelled_by_the_end(site, session_id, request_id)


async def test_a_request_left_when_the_node_restarts_is_cancelled_when_it_links_again(
    site: Site,
) -> None:
    session_id, request_id = await _asking(site)
    await site.node.unlink()
    site.node.restart()  # its agent process restarts: the session ends with it
    await site.node.link()
    session = await site.session(session_id)
    assert session.state == SessionState.STOPPED
    assert session.state_reason == "the agent ended with node n1's agent process"
    await _assert_cancelled_by_the_end(site, session_id, request_id)


async def test_answering_a_request_of_an_ended_session_is_refused(site: Site) -> None:
    session_id, request_id = await _asking(site)
    await site.node.crash(session_id, "gone")
    with pytest.raises(Conflict, match="is already cancelled"):
        await _answer(site, request_id, "allow")
