"""Agent sessions through the control plane's services, against a node in memory: starting,
prompting, what the transcript's events make of a session, cancelling, changing mode and model,
stopping and resuming."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from corral.control.db.models import User
from corral.control.services import workspaces
from corral.control.services.sessions import commands, queries
from corral.control.state import AppState
from corral.errors import Conflict, InvalidInput, NotFound, RetryableProviderError
from corral.protocol.sessions import (
    Policy,
    SessionEvent,
    SessionEventKind,
    SessionEvents,
    SessionEventsAck,
    SessionPrompt,
    SessionStart,
)
from corral.states import SessionState
from tests.support.memnode import MemoryNode
from tests.unit.control.conftest import Site

K = SessionEventKind


def _chunk(text: str) -> dict[str, object]:
    return {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": text}}


# -- starting ------------------------------------------------------------------------------------


async def test_a_started_session_is_starting_until_the_node_says_the_agent_is_ready(
    site: Site,
) -> None:
    async with site.state.db() as db:
        row = await commands.start(
            db,
            site.state.node_registry,
            site.state.secret_box,
            site.owner.id,
            workspace_ref="ws",
            agent_name="scripted",
            title="Fix the build",
        )
    assert row.state == SessionState.STARTING
    (start,) = site.node.sent("session.start")
    assert isinstance(start, SessionStart)
    assert start.workspace_id == site.workspace.id
    assert start.agent.command == ["/usr/bin/scripted-agent"]
    assert start.env == {"APP_ENV": "test"}  # the project's variables reach the agent
    assert (start.policy, start.next_seq, start.load_session_id) == (Policy.ASK, 1, None)

    await site.node.flush()
    ready = await site.session(row.id)
    assert ready.state == SessionState.IDLE
    assert ready.title == "Fix the build"
    assert await site.kinds(row.id) == ["state:idle"]


async def test_a_session_needs_a_running_workspace(site: Site) -> None:
    async with site.state.db() as db:
        await workspaces.stop_workspace(db, site.state.node_registry, site.owner.id, "ws")
    with pytest.raises(Conflict, match="workspace ws is stopped, not running"):
        await site.start()
    assert site.node.sent("session.start") == []


async def test_a_session_on_an_unlinked_node_names_the_node(site: Site) -> None:
    await site.node.unlink()
    with pytest.raises(RetryableProviderError, match="node n1 is not connected"):
        await site.start()


async def test_an_agent_without_its_credential_fails_before_anything_runs(site: Site) -> None:
    with pytest.raises(InvalidInput, match="claude needs a credential: store one with"):
        await site.start(agent_name="claude")
    assert site.node.sent("session.start") == []
    async with site.state.db() as db:
        rows, _ = await queries.list_sessions(db, site.owner.id, limit=10, cursor=None)
    assert list(rows) == []


async def test_a_start_the_node_refuses_leaves_the_session_in_error_with_its_reason(
    site: Site,
) -> None:
    site.node.fail("session.start", Conflict("the workspace's checkout is gone"))
    with pytest.raises(Conflict, match="checkout is gone"):
        await site.start()
    async with site.state.db() as db:
        (row,), _ = await queries.list_sessions(db, site.owner.id, limit=10, cursor=None)
    assert row.state == SessionState.ERROR
    assert row.state_reason == "the workspace's checkout is gone"


# -- prompting and the transcript --------------------------------------------------------------


async def test_a_prompt_runs_a_turn_whose_reply_and_usage_the_session_shows(site: Site) -> None:
    row = await site.start()
    prompt_id, queued = await site.prompt(row.id, "Add a test\nfor the parser")
    assert queued == 0
    (sent,) = site.node.sent("session.prompt")
    assert isinstance(sent, SessionPrompt)
    assert (sent.prompt_id, sent.text) == (prompt_id, "Add a test\nfor the parser")

    await site.node.flush()
    running = await site.session(row.id)
    assert running.state == SessionState.RUNNING
    assert running.title == "Add a test"  # the first line of the first prompt

    await site.node.reply(row.id, "Done: ", "added test_parser.py")
    assert (await site.session(row.id)).last_message == "Done: added test_parser.py"
    await site.node.finish_turn(row.id, usage={"totalTokens": 120, "inputTokens": 100})
    idle = await site.session(row.id)
    assert idle.state == SessionState.IDLE
    assert idle.turn_usage is not None and idle.turn_usage["total_tokens"] == 120
    assert await site.kinds(row.id) == [
        "state:idle",
        "prompt",
        "state:running",
        "update",
        "update",
        "turn_end",
        "state:idle",
    ]


async def test_a_prompt_sent_during_a_turn_waits_behind_it(site: Site) -> None:
    row = await site.start()
    await site.prompt(row.id, "first")
    _, queued = await site.prompt(row.id, "second")
    assert queued == 1
    await site.node.finish_turn(row.id)
    prompts = [e.payload["text"] for e in await site.events(row.id) if e.kind == "prompt"]
    assert prompts == ["first", "second"]
    assert (await site.session(row.id)).state == SessionState.RUNNING


async def test_what_the_agent_reports_becomes_the_sessions_fields(site: Site) -> None:
    row = await site.start()
    await site.node.emit(
        row.id, K.UPDATE, {"sessionUpdate": "usage_update", "used": 5000, "size": 200000}
    )
    await site.node.emit(
        row.id, K.UPDATE, {"sessionUpdate": "current_mode_update", "currentModeId": "plan"}
    )
    await site.node.emit(
        row.id,
        K.UPDATE,
        {
            "sessionUpdate": "config_option_update",
            "configOptions": [{"id": "m", "category": "model", "currentValue": "fast-1"}],
        },
    )
    await site.node.emit(
        row.id, K.NOTICE, {"code": "agent_ready", "message": "ready", "name": "scripted"}
    )
    await site.node.emit(row.id, K.UPDATE, {"sessionUpdate": "something_new", "x": [1, 2]})
    session = await site.session(row.id)
    assert session.context_usage == {"used": 5000, "size": 200000, "cost": None}
    assert (session.mode, session.model) == ("plan", "fast-1")
    assert session.agent_info == {"name": "scripted"}
    newest = (await site.events(row.id))[-1]
    assert newest.payload == {"sessionUpdate": "something_new", "x": [1, 2]}  # kept as sent


async def test_events_sent_again_are_stored_once(site: Site) -> None:
    row = await site.start()
    await site.node.reply(row.id, "hello")
    again = SessionEvents(
        session_id=row.id,
        events=[
            SessionEvent(seq=1, kind=K.STATE, payload={"state": "idle"}, at=datetime.now(UTC)),
            SessionEvent(seq=3, kind=K.UPDATE, payload=_chunk("!"), at=datetime.now(UTC)),
        ],
    )
    assert site.node.peer is not None
    ack = await site.node.peer.call("session.events", again, SessionEventsAck)
    assert ack.acked_seq == 3
    assert [e.seq for e in await site.events(row.id)] == [1, 2, 3]
    assert (await site.session(row.id)).last_message == "hello!"


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
async def test_an_event_is_stored_as_the_node_sent_it(site: Site) -> None:
    """Its time (sent in any offset) is the same instant read back, and its payload keeps what
    JSON carries beyond the usual: text in any script, integers beyond 64 bits."""
    row = await site.start()
    await site.node.reply(row.id, "hello")
    at = datetime(2026, 5, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    on_the_second = datetime(2026, 5, 1, 12, 30, 16, tzinfo=UTC)  # ISO text without fraction
    payload = {**_chunk(" héllo ✓ 日本"), "tokens": 2**70}
    batch = SessionEvents(
        session_id=row.id,
        events=[
            SessionEvent(seq=3, kind=K.UPDATE, payload=payload, at=at),
            SessionEvent(seq=4, kind=K.UPDATE, payload=_chunk("!"), at=on_the_second),
        ],
    )
    assert site.node.peer is not None
    assert (await site.node.peer.call("session.events", batch, SessionEventsAck)).acked_seq == 4
    *_, third, fourth = await site.events(row.id)
    assert (third.seq, third.payload, third.created_at) == (3, payload, at)
    assert (fourth.seq, fourth.created_at) == (4, on_the_second)
    assert third.created_at.tzinfo == fourth.created_at.tzinfo == UTC


async def test_a_node_cannot_send_events_of_another_nodes_session(
    site: Site, state: AppState, owner: User
) -> None:
    row = await site.start()
    other = await MemoryNode.join(state, owner, "n2")
    try:
        assert other.peer is not None
        batch = SessionEvents(
            session_id=row.id,
            events=[
                SessionEvent(
                    seq=9, kind=K.STATE, payload={"state": "stopped"}, at=datetime.now(UTC)
                )
            ],
        )
        with pytest.raises(NotFound, match=f"no session {row.id} on this node"):
            await other.peer.call("session.events", batch, SessionEventsAck)
    finally:
        await other.close()
    assert (await site.session(row.id)).state == SessionState.IDLE


async def test_a_crashed_agent_leaves_the_session_in_error_with_its_stderr(site: Site) -> None:
    row = await site.start()
    await site.node.crash(row.id, "the agent exited with status 1", ["Traceback", "KeyError: 'x'"])
    session = await site.session(row.id)
    assert session.state == SessionState.ERROR
    assert session.state_reason == "the agent exited with status 1\nTraceback\nKeyError: 'x'"


async def test_another_users_session_is_not_found(site: Site, state: AppState) -> None:
    row = await site.start()
    async with state.db() as db:
        with pytest.raises(NotFound, match="no session"):
            await commands.prompt(
                db, state.node_registry, state.secret_box, "usr_someone_else", row.id, text="hi"
            )


# -- steering ------------------------------------------------------------------------------------


async def test_cancel_ends_the_running_turn_and_drops_the_queued_prompts(site: Site) -> None:
    row = await site.start()
    await site.prompt(row.id, "long job")
    await site.prompt(row.id, "next job")
    async with site.state.db() as db:
        cancelled = await commands.cancel(db, site.state.node_registry, site.owner.id, row.id)
    assert cancelled.id == row.id
    assert len(site.node.sent("session.cancel")) == 1
    await site.node.flush()
    assert (await site.session(row.id)).state == SessionState.IDLE
    events = await site.events(row.id)
    assert [e.payload.get("stop_reason") for e in events if e.kind == "turn_end"] == ["cancelled"]
    assert [e.payload["code"] for e in events if e.kind == "notice"] == ["prompts_dropped"]


@pytest.mark.parametrize(
    ("setting", "value"), [("mode", "plan"), ("model", "large-2")], ids=["mode", "model"]
)
async def test_mode_and_model_reach_the_agent_and_last_into_a_restart(
    site: Site, setting: str, value: str
) -> None:
    row = await site.start()
    change = commands.set_mode if setting == "mode" else commands.set_model
    async with site.state.db() as db:
        changed = await change(db, site.state.node_registry, site.owner.id, row.id, value)
    assert getattr(changed, setting) == value
    (sent,) = site.node.sent(f"session.set_{setting}")
    assert getattr(sent, f"{setting}_id") == value
    assert getattr(site.node.session(row.id), setting) == value

    await site.stop(row.id)
    await site.node.flush()
    await site.prompt(row.id, "again")
    restart = site.node.sent("session.start")[-1]
    assert getattr(restart, setting) == value


@pytest.mark.parametrize("setting", ["mode", "model"])
async def test_a_setting_the_agent_refuses_is_not_kept(site: Site, setting: str) -> None:
    row = await site.start()
    site.node.fail(f"session.set_{setting}", InvalidInput(f"the agent has no {setting} 'x'"))
    change = commands.set_mode if setting == "mode" else commands.set_model
    async with site.state.db() as db:
        with pytest.raises(InvalidInput, match=f"the agent has no {setting} 'x'"):
            await change(db, site.state.node_registry, site.owner.id, row.id, "x")
    assert getattr(await site.session(row.id), setting) is None


@pytest.mark.parametrize("command", ["cancel", "set_mode", "set_model"])
async def test_a_stopped_session_cannot_be_steered(site: Site, command: str) -> None:
    row = await site.start()
    await site.stop(row.id)
    await site.node.flush()
    async with site.state.db() as db:
        with pytest.raises(Conflict, match=f"session {row.id} is stopped") as caught:
            if command == "cancel":
                await commands.cancel(db, site.state.node_registry, site.owner.id, row.id)
            else:
                await getattr(commands, command)(
                    db, site.state.node_registry, site.owner.id, row.id, "x"
                )
    assert caught.value.reason == "session_not_running"


# -- stopping and resuming -----------------------------------------------------------------------


async def test_stop_ends_the_agent_and_a_second_stop_asks_nothing(site: Site) -> None:
    row = await site.start()
    await site.stop(row.id)
    await site.node.flush()
    stopped = await site.session(row.id)
    assert (stopped.state, stopped.state_reason) == (SessionState.STOPPED, "stopped")
    again = await site.stop(row.id)
    assert again.state == SessionState.STOPPED
    assert len(site.node.sent("session.stop")) == 1


async def test_stopping_with_the_node_gone_stops_the_session_at_once(site: Site) -> None:
    row = await site.start()
    await site.node.unlink()
    stopped = await site.stop(row.id)
    assert stopped.state == SessionState.STOPPED


async def test_a_stopped_session_resumes_on_the_next_prompt_with_its_conversation(
    site: Site,
) -> None:
    row = await site.start()
    await site.prompt(row.id, "What is 2+2?")
    await site.node.finish_turn(row.id, reply="4")
    await site.stop(row.id)
    await site.node.flush()
    last_seq = (await site.session(row.id)).last_seq

    await site.prompt(row.id, "And 3+3?")
    restart = site.node.sent("session.start")[-1]
    assert restart.load_session_id == f"acp-{row.id}"  # the agent's own id, to load
    assert restart.next_seq == last_seq + 1  # the node numbers on from the transcript
    assert restart.context is not None
    assert "User: What is 2+2?\nAgent: 4" in restart.context
    await site.node.flush()
    resumed = await site.session(row.id)
    assert resumed.state == SessionState.RUNNING
    assert [e.seq for e in await site.events(row.id)] == list(range(1, resumed.last_seq + 1))


async def test_a_resume_the_node_refuses_leaves_the_session_in_error(site: Site) -> None:
    row = await site.start()
    await site.stop(row.id)
    await site.node.flush()
    site.node.fail("session.start", RetryableProviderError("the node is busy"))
    with pytest.raises(RetryableProviderError, match="the node is busy"):
        await site.prompt(row.id, "hello")
    errored = await site.session(row.id)
    assert (errored.state, errored.state_reason) == (SessionState.ERROR, "the node is busy")
    assert site.node.sent("session.prompt") == []
