"""Agent sessions through real processes: `corral serve`, a `corral node run` agent, and the
scripted ACP agent (tests/support/scripted_agent.py) in a workspace (unsandboxed: see
`SCRIPTED_AGENT_RUNTIME_SETTINGS`).

One control plane, node and workspace serve the whole module; each test starts its own session.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.sessions import (
    SCRIPTED_AGENT,
    SCRIPTED_AGENT_RUNTIME_SETTINGS,
    SessionSite,
    agent_message_text,
    session_site,
)
from tests.support.waits import eventually_sync

WAIT_SECONDS = 60.0

README = "sessions readme\n"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionSite]:
    base = tmp_path_factory.mktemp("sessions")
    node_env = {
        "CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS,
        "CORRAL_NODE_SESSIONS__CANCEL_GRACE_SECONDS": "3",
        "CORRAL_NODE_SESSIONS__START_TIMEOUT_SECONDS": "20",
    }
    files = {"README.md": README, "notes.txt": "old notes\n"}
    with session_site(base, files, node_env=node_env, wait_seconds=60.0) as site:
        site.add_scripted_agent()
        yield site


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["kind"] for e in events]


def test_a_prompt_streams_the_agents_reply_into_the_transcript(site: SessionSite) -> None:
    session = site.start("scripted")
    assert session["state"] == "starting"
    site.wait_state(session["id"], "idle")
    prompt_id = site.prompt(session["id"], "echo hello from corral")
    end = site.turn(session["id"], prompt_id)
    assert end["stop_reason"] == "end_turn"
    events = site.events(session["id"])
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert "hello from corral" in agent_message_text(events)
    found = site.wait_state(session["id"], "idle")
    assert found["title"] == "echo hello from corral"
    assert "hello from corral" in (found["last_message"] or "")


def test_an_approved_write_changes_the_file_and_a_rejected_one_does_not(site: SessionSite) -> None:
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    prompt_id = site.prompt(session["id"], "permission path=notes.txt content=approved")
    request = site.pending_request(session["id"], prompt_id)
    assert site.session(session["id"])["state"] == "awaiting_permission"
    options = {o["optionId"]: o["kind"] for o in request["options"]}
    assert options["allow"] == "allow_once"
    answered = site.api.post(
        f"/permission-requests/{request['id']}/answer", {"option_id": "allow"}, expect=200
    )
    assert answered["state"] == "answered"
    assert site.turn(session["id"], prompt_id)["stop_reason"] == "end_turn"
    assert (site.checkout / "notes.txt").read_text() == "approved"
    again = site.api.request(
        "POST", f"/permission-requests/{request['id']}/answer", json={"option_id": "allow"}
    )
    assert again.status_code == 409, again.text

    prompt_id = site.prompt(session["id"], "permission path=notes.txt content=rejected")
    request = site.pending_request(session["id"], prompt_id)
    site.api.post(
        f"/permission-requests/{request['id']}/answer", {"option_id": "reject"}, expect=200
    )
    site.turn(session["id"], prompt_id)
    assert (site.checkout / "notes.txt").read_text() == "approved"
    decisions = [
        e["payload"] for e in site.events(session["id"]) if e["kind"] == "permission_decision"
    ]
    assert [d["option_id"] for d in decisions] == ["allow", "reject"]
    assert all(d["by"] for d in decisions)


def test_unknown_update_kinds_are_kept_as_sent(site: SessionSite) -> None:
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    prompt_id = site.prompt(session["id"], "all-updates")
    site.turn(session["id"], prompt_id)
    updates = [e["payload"] for e in site.events(session["id"]) if e["kind"] == "update"]
    seen = {u["sessionUpdate"] for u in updates}
    assert {
        "agent_message_chunk",
        "agent_thought_chunk",
        "tool_call",
        "tool_call_update",
        "plan",
        "future_kind_xyz",
    } <= seen
    unknown = next(u for u in updates if u["sessionUpdate"] == "future_kind_xyz")
    assert unknown.get("foo") == 1 or len(unknown) > 1


def test_the_context_window_and_the_last_turns_tokens_are_kept_apart(site: SessionSite) -> None:
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    site.turn(session["id"], site.prompt(session["id"], "all-updates"))
    # The usage_update that follows the result (1500 tokens) must not wipe the turn's counts.
    found = eventually_sync(
        lambda: (s := site.session(session["id"]))["context_usage"]["used"] == 1500 and s,
        "the usage_update after the turn",
        wait_seconds=WAIT_SECONDS,
        context=lambda: json.dumps(site.session(session["id"])),
    )
    assert found["context_usage"] == {
        "used": 1500,
        "size": 200_000,
        "cost": {"amount": 0.015, "currency": "USD"},
    }
    assert found["turn_usage"] == {
        "total_tokens": 1400,
        "input_tokens": 1000,
        "output_tokens": 400,
        "thought_tokens": None,
        "cached_read_tokens": 800,
        "cached_write_tokens": None,
    }


def test_cancel_ends_a_running_turn(site: SessionSite) -> None:
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    prompt_id = site.prompt(session["id"], "slow seconds=30")
    site.wait_state(session["id"], "running")
    site.api.post(f"/sessions/{session['id']}/cancel", expect=200)
    assert site.turn(session["id"], prompt_id)["stop_reason"] == "cancelled"
    site.wait_state(session["id"], "idle")


def test_a_crashing_agent_puts_the_session_in_error_with_its_stderr(site: SessionSite) -> None:
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    site.prompt(session["id"], "crash")
    failed = site.wait_state(session["id"], "error")
    assert "exited with code 3" in failed["state_reason"], failed


def test_reading_outside_the_workspace_is_refused(site: SessionSite) -> None:
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    secret = site.node_dir / "node.json"
    prompt_id = site.prompt(session["id"], f"read path={secret}")
    site.turn(session["id"], prompt_id)
    text = json.dumps(site.events(session["id"]))
    assert "outside the workspace" in text
    assert "credential" not in text


def test_the_websocket_replays_then_follows_with_no_gap(site: SessionSite) -> None:
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    site.turn(session["id"], site.prompt(session["id"], "echo first"))
    ws_url = site.url.replace("http", "ws", 1) + f"/api/v1/sessions/{session['id']}/events/ws"
    seen: list[dict[str, Any]] = []
    with connect(ws_url + "?after=0", additional_headers=site.api.headers) as connection:
        second = site.prompt(session["id"], "echo second")

        def second_turn_ended() -> bool:
            seen.extend(json.loads(connection.recv(timeout=WAIT_SECONDS))["events"])
            return any(
                e["kind"] == "turn_end" and e["payload"]["prompt_id"] == second for e in seen
            )

        eventually_sync(
            second_turn_ended, "the second turn's end", wait_seconds=WAIT_SECONDS, interval=0
        )
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    stored = site.events(session["id"])
    assert [e["seq"] for e in seen] == [e["seq"] for e in stored[: len(seen)]]


def test_a_builtin_agent_without_a_credential_fails_before_it_runs(site: SessionSite) -> None:
    response = site.api.request(
        "POST", "/sessions", json={"workspace": site.workspace_id, "agent": "claude"}
    )
    assert response.status_code == 422, response.text
    assert "credential" in response.json()["error"]["message"]
    assert site.api.get("/sessions?state=starting")["items"] == []


def test_a_stopped_session_resumes_on_the_next_prompt(site: SessionSite) -> None:
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    site.turn(session["id"], site.prompt(session["id"], "echo remember the word walnut"))
    site.api.post(f"/sessions/{session['id']}/stop", expect=200)
    site.wait_state(session["id"], "stopped")
    before = site.session(session["id"])["last_seq"]
    prompt_id = site.prompt(session["id"], "echo and now")
    assert site.turn(session["id"], prompt_id)["stop_reason"] == "end_turn"
    events = site.events(session["id"])
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["seq"] > before
    # The agent offers session/load: the same ACP session continues, nothing is replayed twice.
    prompts = [e["payload"]["text"] for e in events if e["kind"] == "prompt"]
    assert prompts == ["echo remember the word walnut", "echo and now"]


def test_a_killed_control_plane_loses_no_event_and_repeats_none(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    base = tmp_path_factory.mktemp("durability")
    node_env = {"CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS}
    with session_site(base, {"README.md": README}, node_env=node_env, wait_seconds=60.0) as site:
        site.api.post(
            "/agents", {"name": "scripted", "command": [sys.executable, str(SCRIPTED_AGENT)]}
        )
        session = site.start("scripted")
        site.wait_state(session["id"], "idle")
        count = 2000
        prompt_id = site.prompt(session["id"], f"flood {count} rate=500")
        eventually_sync(
            lambda: site.session(session["id"])["last_seq"] > 100,
            "events flowing",
            wait_seconds=WAIT_SECONDS,
        )
        # Mid-turn: the node keeps numbering events in its outbox while nobody acknowledges.
        killed_at = datetime.now(UTC)
        site.kill_and_restart_control_plane()
        end = site.turn(session["id"], prompt_id)
        assert end["stop_reason"] == "end_turn"
        events = site.events(session["id"])
        turn_end = next(e for e in events if e["kind"] == "turn_end")
        assert datetime.fromisoformat(turn_end["at"]) > killed_at  # the kill was mid-turn
        assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
        chunks = [
            int(e["payload"]["content"]["text"].split()[0])
            for e in events
            if e["kind"] == "update" and e["payload"].get("sessionUpdate") == "agent_message_chunk"
        ]
        assert chunks == list(range(count))


def test_an_agent_that_cannot_load_resumes_with_a_summary(site: SessionSite) -> None:
    site.api.post(
        "/agents",
        {"name": "forgetful", "command": [sys.executable, str(SCRIPTED_AGENT), "--no-load"]},
    )
    session = site.start("forgetful")
    site.wait_state(session["id"], "idle")
    site.turn(session["id"], site.prompt(session["id"], "echo remember the word walnut"))
    site.api.post(f"/sessions/{session['id']}/stop", expect=200)
    site.wait_state(session["id"], "stopped")
    after = site.session(session["id"])["last_seq"]
    prompt_id = site.prompt(session["id"], "echo what was the word?")
    assert site.turn(session["id"], prompt_id)["stop_reason"] == "end_turn"
    events = site.events(session["id"], after=after)
    notices = [e["payload"]["code"] for e in events if e["kind"] == "notice"]
    assert "resumed_with_summary" in notices
    # The scripted agent echoes the whole prompt it got: the summary came with it.
    reply = agent_message_text(events)
    assert "walnut" in reply and "what was the word?" in reply


def _topics_until(connection: Any, wanted: set[str]) -> set[str]:
    """Topics of the live socket's `changed` frames, read until all of `wanted` were told."""
    seen: set[str] = set()

    def all_told() -> bool:
        frame = json.loads(connection.recv(timeout=WAIT_SECONDS))
        if frame["type"] != "changed":
            pytest.fail(f"not a `changed` frame: {frame}")
        seen.update(frame["topics"])
        return wanted <= seen

    eventually_sync(all_told, f"{wanted} told", wait_seconds=WAIT_SECONDS, interval=0)
    return seen


def test_the_live_socket_tells_which_lists_changed(site: SessionSite) -> None:
    ws_url = site.url.replace("http", "ws", 1) + "/api/v1/live/ws"
    with connect(ws_url, additional_headers=site.api.headers) as connection:
        assert json.loads(connection.recv(timeout=WAIT_SECONDS)) == {"type": "ready"}
        session = site.start("scripted")
        assert {"sessions", "activity"} <= _topics_until(connection, {"sessions", "activity"})
        site.wait_state(session["id"], "idle")
        prompt_id = site.prompt(session["id"], "permission path=live.txt content=x")
        request = site.pending_request(session["id"], prompt_id)
        assert "permission-requests" in _topics_until(connection, {"permission-requests"})
        site.answer(request, "reject_once")
        assert "permission-requests" in _topics_until(connection, {"permission-requests"})


def test_the_live_socket_needs_a_signed_in_user(site: SessionSite) -> None:
    ws_url = site.url.replace("http", "ws", 1) + "/api/v1/live/ws"
    with connect(ws_url) as connection, pytest.raises(ConnectionClosed) as closed:
        connection.recv(timeout=WAIT_SECONDS)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def decision_of(site: SessionSite, session_id: str, request_id: str) -> dict[str, Any]:
    """The decision event about `request_id`, once the transcript has it."""

    def check() -> dict[str, Any] | None:
        for event in site.events(session_id):
            payload = event["payload"]
            if event["kind"] == "permission_decision" and payload["request_id"] == request_id:
                return dict(payload)
        return None

    found: dict[str, Any] = eventually_sync(
        check,
        f"a decision about {request_id}",
        wait_seconds=WAIT_SECONDS,
        context=lambda: json.dumps(site.events(session_id))[-4000:],
    )
    return found


CANCELLED_BY_THE_END = {
    "outcome": "cancelled",
    "option_id": None,
    "by": None,
    "policy": "session ended",
}


def waiting_request(site: SessionSite, path: str) -> tuple[str, dict[str, Any]]:
    """A new session whose turn waits on a permission request to write `path`."""
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    prompt_id = site.prompt(session["id"], f"permission path={path} content=x")
    return session["id"], site.pending_request(session["id"], prompt_id)


def test_stopping_a_session_cancels_its_waiting_request_in_the_transcript(
    site: SessionSite,
) -> None:
    session_id, request = waiting_request(site, "stopped.txt")
    site.api.post(f"/sessions/{session_id}/stop", expect=200)
    site.wait_state(session_id, "stopped")

    decision = decision_of(site, session_id, request["id"])
    assert decision == {**CANCELLED_BY_THE_END, "request_id": request["id"]}
    listed = site.api.get("/permission-requests?all=true")["items"]
    assert next(r for r in listed if r["id"] == request["id"])["state"] == "cancelled"
    events = site.events(session_id)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert not (site.checkout / "stopped.txt").exists()


# Last: it restarts the module's node daemon.
def test_a_request_waiting_when_the_node_dies_is_cancelled_when_it_links_again(
    site: SessionSite,
) -> None:
    session_id, request = waiting_request(site, "orphaned.txt")

    site.kill_and_restart_node()

    stopped = site.wait_state(session_id, "stopped")
    assert "node n1's agent process" in stopped["state_reason"], stopped
    decision = decision_of(site, session_id, request["id"])
    assert decision == {**CANCELLED_BY_THE_END, "request_id": request["id"]}
    assert request["id"] not in [r["id"] for r in site.api.get("/permission-requests")["items"]]
    # The conversation goes on after the node's restart.
    resumed = site.prompt(session_id, "echo after the restart")
    assert site.turn(session_id, resumed)["stop_reason"] == "end_turn"
