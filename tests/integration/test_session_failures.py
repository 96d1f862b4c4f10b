"""How agent sessions fail, and what keeps working when they do, through real processes:
`corral serve`, a `corral node run` agent and the scripted ACP agent
(tests/support/scripted_agent.py) in a workspace (unsandboxed: see
`SCRIPTED_AGENT_RUNTIME_SETTINGS`).

One control plane, node and workspace serve the whole module; each test starts its own session.
The node's start timeout is short (5 s) so an agent that never starts fails fast, and its cancel
grace is 3 s so an agent that ignores a cancel fails fast too.
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.sessions import (
    SCRIPTED_AGENT,
    SCRIPTED_AGENT_RUNTIME_SETTINGS,
    SessionSite,
    agent_message_text,
    session_site,
)
from tests.support.waits import Gate, eventually_sync

START_TIMEOUT_SECONDS = 5.0
CANCEL_GRACE_SECONDS = 3.0
MARKER_VARIABLE = "CORRAL_TEST_HANG_MARKER"
HANG_MARKER = f"hang-{uuid.uuid4().hex}"

AGENTS: dict[str, list[str]] = {
    "scripted": [sys.executable, str(SCRIPTED_AGENT)],
    "hang-at-start": [sys.executable, str(SCRIPTED_AGENT), "--hang-at-start"],
    "crash-at-start": [sys.executable, str(SCRIPTED_AGENT), "--crash-at-start"],
    "hanger": [sys.executable, str(SCRIPTED_AGENT)],
}


PERMISSION_TIMEOUT_SECONDS = 4.0


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionSite]:
    base = tmp_path_factory.mktemp("session-failures")
    node_env = {
        "CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS,
        "CORRAL_NODE_SESSIONS__CANCEL_GRACE_SECONDS": f"{CANCEL_GRACE_SECONDS:g}",
        "CORRAL_NODE_SESSIONS__START_TIMEOUT_SECONDS": f"{START_TIMEOUT_SECONDS:g}",
    }
    files = {"README.md": "failures readme\n", "notes.txt": "old notes\n"}
    server_env = {"CORRAL_SESSIONS__PERMISSION_TIMEOUT_SECONDS": f"{PERMISSION_TIMEOUT_SECONDS:g}"}
    with session_site(
        base, files, node_env=node_env, wait_seconds=30.0, server_env=server_env
    ) as site:
        for name, command in AGENTS.items():
            site.api.post("/agents", {"name": name, "command": command})
        # Only the `hanger` agent's processes carry the marker, so the test can find them.
        site.api.call(
            "PATCH", "/agents/hanger/settings", json={"env": {MARKER_VARIABLE: HANG_MARKER}}
        )
        yield site


# -- helpers ---------------------------------------------------------------------------------------


def ready(site: SessionSite, agent: str = "scripted", **body: Any) -> str:
    """Start a session of `agent` and wait until it takes prompts; return its id."""
    session = site.start(agent, **body)
    site.wait_state(session["id"], "idle")
    return str(session["id"])


def of_kind(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["payload"] for e in events if e["kind"] == kind]


def echo_works(site: SessionSite, session_id: str, text: str) -> None:
    prompt_id = site.prompt(session_id, f"echo {text}")
    assert site.turn(session_id, prompt_id)["stop_reason"] == "end_turn"
    assert text in agent_message_text(site.events(session_id))
    site.wait_state(session_id, "idle")


def processes_with_marker(marker: str) -> list[int]:
    """PIDs of live processes whose environment holds `MARKER_VARIABLE=marker` (the sandbox's
    PID namespace hides nothing from the host's /proc)."""
    needle = f"{MARKER_VARIABLE}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue  # gone meanwhile, or a kernel thread
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


# -- the agent breaks the protocol -----------------------------------------------------------------


def test_an_agent_writing_garbage_to_stdout_ends_in_error(site: SessionSite) -> None:
    session_id = ready(site)
    site.prompt(session_id, "garbage")
    failed = site.wait_state(session_id, "error")
    assert "not JSON" in failed["state_reason"], failed
    assert "this is not json" in failed["state_reason"], failed


def test_an_oversized_line_ends_only_that_session(site: SessionSite) -> None:
    bystander = ready(site)
    session_id = ready(site)
    site.prompt(session_id, "oversized mib=16")
    failed = site.wait_state(session_id, "error")
    assert "over 8192 KiB" in failed["state_reason"], failed

    # The node carries on: the session that was running still answers, and a new one starts.
    assert site.api.get("/nodes")["items"][0]["connected"]
    echo_works(site, bystander, "the bystander is fine")
    after = ready(site)
    echo_works(site, after, "hi")


def test_a_stderr_flood_does_not_block_the_agent(site: SessionSite) -> None:
    session_id = ready(site)
    prompt_id = site.prompt(session_id, "stderr-flood mib=8")
    assert site.turn(session_id, prompt_id)["stop_reason"] == "end_turn"
    assert f"Wrote {8 * 1024 * 1024} bytes to stderr." in agent_message_text(
        site.events(session_id)
    )
    site.wait_state(session_id, "idle")


def test_an_unknown_client_method_is_answered_method_not_found(site: SessionSite) -> None:
    session_id = ready(site)
    prompt_id = site.prompt(session_id, "unknown-method")
    assert site.turn(session_id, prompt_id)["stop_reason"] == "end_turn"
    events = site.events(session_id)
    said = agent_message_text(events)
    assert "_corral/nonexistent failed" in said, said
    assert "-32601" in said, said
    assert "method not found" in said.lower(), said
    notices = of_kind(events, "notice")
    assert any(n.get("code") == "unknown_method" for n in notices), notices
    site.wait_state(session_id, "idle")


# -- the agent does not start ----------------------------------------------------------------------


def test_an_agent_that_hangs_at_start_fails_within_the_start_timeout(site: SessionSite) -> None:
    started = time.monotonic()
    session = site.start("hang-at-start")
    failed = site.wait_state(session["id"], "error", seconds=START_TIMEOUT_SECONDS + 15)
    elapsed = time.monotonic() - started
    assert "did not start within 5 s" in failed["state_reason"], failed
    assert elapsed >= START_TIMEOUT_SECONDS - 0.5, elapsed
    assert "hanging at start on purpose" in failed["state_reason"], failed


def test_an_agent_that_crashes_at_start_reports_its_stderr(site: SessionSite) -> None:
    session = site.start("crash-at-start")
    failed = site.wait_state(session["id"], "error")
    assert "fatal: crashing at start on purpose" in failed["state_reason"], failed
    assert "exited with code 1" in failed["state_reason"], failed


# -- the agent hangs in a turn ---------------------------------------------------------------------


def test_a_hung_turn_that_ignores_cancel_fails_and_leaves_no_process(site: SessionSite) -> None:
    session_id = ready(site, "hanger")
    site.prompt(session_id, "hang")
    site.wait_state(session_id, "running")
    # The marker finds the agent while it runs, so its absence later means something.
    eventually_sync(
        lambda: processes_with_marker(HANG_MARKER) or None,
        "the hanging agent's process",
        wait_seconds=10.0,
    )
    cancelled_at = time.monotonic()
    site.api.post(f"/sessions/{session_id}/cancel", expect=200)
    failed = site.wait_state(session_id, "error", seconds=CANCEL_GRACE_SECONDS + 15)
    assert time.monotonic() - cancelled_at >= CANCEL_GRACE_SECONDS - 0.5
    assert "did not end its turn within 3 s" in failed["state_reason"], failed
    eventually_sync(
        lambda: not processes_with_marker(HANG_MARKER),
        "no process of the hung agent left",
        wait_seconds=10.0,
        context=lambda: f"still running: {processes_with_marker(HANG_MARKER)}",
    )


# -- what the agent can do -------------------------------------------------------------------------


def test_a_terminal_runs_in_the_checkout_and_its_output_is_kept(site: SessionSite) -> None:
    session_id = ready(site)
    prompt_id = site.prompt(session_id, "terminal cmd=echo from-terminal; pwd")
    assert site.turn(session_id, prompt_id)["stop_reason"] == "end_turn"
    terminals = of_kind(site.events(session_id), "terminal")
    assert terminals[0]["running"] is True and terminals[0]["command"][0] == "sh", terminals
    final = [t for t in terminals if not t["running"]]
    assert len(final) == 1, terminals
    output = final[0]["output"]
    assert "from-terminal" in output, terminals
    lines = output.splitlines()
    assert str(site.checkout) in lines or str(site.checkout.resolve()) in lines, terminals
    assert final[0]["exit_status"] is not None, terminals


def test_a_whole_shell_line_sent_as_the_command_runs_through_a_shell(site: SessionSite) -> None:
    """Some agents send `cat x | wc -l` as terminal/create's command with no args; editors run
    that through a shell, and so does Corral."""
    session_id = ready(site)
    prompt_id = site.prompt(session_id, "shell-line cmd=echo one two | tr a-z A-Z")
    assert site.turn(session_id, prompt_id)["stop_reason"] == "end_turn"
    final = [t for t in of_kind(site.events(session_id), "terminal") if not t["running"]]
    assert final and "ONE TWO" in final[-1]["output"], final
    assert final[-1]["exit_status"] == {"exitCode": 0, "signal": None}, final


def test_a_running_commands_output_reaches_the_transcript_before_it_ends(
    site: SessionSite, tmp_path: Path
) -> None:
    session_id = ready(site)
    gate = Gate(tmp_path / "gate")
    prompt_id = site.prompt(
        session_id, f"terminal cmd=echo started-work; {gate.command}; echo finished-work"
    )

    def progress() -> list[dict[str, Any]] | None:
        terminals = of_kind(site.events(session_id), "terminal")
        seen = [t for t in terminals if t.get("running") and "started-work" in t["append"]]
        return terminals if seen else None

    # Seen while the command waits at the gate: the final report has not come yet.
    early = eventually_sync(progress, "the command's first line", wait_seconds=site.wait_seconds)
    assert all(t["running"] for t in early), early
    assert not any("finished-work" in t.get("append", "") for t in early), early
    gate.open()
    assert site.turn(session_id, prompt_id)["stop_reason"] == "end_turn"
    final = [t for t in of_kind(site.events(session_id), "terminal") if not t["running"]]
    assert "started-work" in final[0]["output"] and "finished-work" in final[0]["output"]


def test_mode_and_model_reach_the_agent(site: SessionSite) -> None:
    session_id = ready(site)
    changed = site.api.call("PUT", f"/sessions/{session_id}/mode", json={"mode": "plan"})
    assert changed["mode"] == "plan"
    site.turn(session_id, site.prompt(session_id, "mode"))
    assert "Mode: plan" in agent_message_text(site.events(session_id))

    changed = site.api.call("PUT", f"/sessions/{session_id}/model", json={"model": "smart"})
    assert changed["model"] == "smart"
    site.turn(session_id, site.prompt(session_id, "model"))
    assert "Model: smart" in agent_message_text(site.events(session_id))

    found = site.wait_state(session_id, "idle")
    assert found["mode"] == "plan"
    assert found["model"] == "smart"

    # The agent switching on its own (a config_option_update) shows in the session too.
    site.turn(session_id, site.prompt(session_id, "model fast"))
    assert site.wait_state(session_id, "idle")["model"] == "fast"


def test_a_prompt_sent_during_a_turn_is_queued_and_runs_after_it(
    site: SessionSite, tmp_path: Path
) -> None:
    session_id = ready(site)
    gate = Gate(tmp_path / "gate")  # the first turn lasts until the second prompt is in
    first = site.api.post(
        f"/sessions/{session_id}/prompts", {"text": f"terminal cmd={gate.command}"}, expect=202
    )
    second = site.api.post(f"/sessions/{session_id}/prompts", {"text": "echo queued"}, expect=202)
    assert first["queued"] == 0
    assert second["queued"] == 1
    gate.open()
    assert site.turn(session_id, second["prompt_id"])["stop_reason"] == "end_turn"
    events = site.events(session_id)
    ends = [e["payload"] for e in events if e["kind"] == "turn_end"]
    assert [e["prompt_id"] for e in ends] == [first["prompt_id"], second["prompt_id"]]
    assert [e["stop_reason"] for e in ends] == ["end_turn", "end_turn"]
    prompts = [e["payload"]["prompt_id"] for e in events if e["kind"] == "prompt"]
    assert prompts == [first["prompt_id"], second["prompt_id"]]
    queued = [n for n in of_kind(events, "notice") if n.get("code") == "prompt_queued"]
    assert [n["prompt_id"] for n in queued] == [second["prompt_id"]]


# -- permissions -----------------------------------------------------------------------------------


def test_the_allow_edits_policy_answers_an_edit_without_asking(site: SessionSite) -> None:
    session_id = ready(site, policy="allow-edits")
    assert site.session(session_id)["policy"] == "allow-edits"
    prompt_id = site.prompt(session_id, "permission path=by-policy.txt content=policy-wrote-this")
    assert site.turn(session_id, prompt_id)["stop_reason"] == "end_turn"
    assert (site.checkout / "by-policy.txt").read_text() == "policy-wrote-this"
    events = site.events(session_id)
    requests = of_kind(events, "permission_request")
    decisions = of_kind(events, "permission_decision")
    assert len(requests) == 1, requests
    assert len(decisions) == 1, decisions
    assert decisions[0]["request_id"] == requests[0]["request_id"]
    assert decisions[0]["policy"] == "allow-edits"
    assert decisions[0]["option_id"] == "allow"
    assert decisions[0]["by"] is None
    pending = site.api.get("/permission-requests")["items"]
    assert [r for r in pending if r["session_id"] == session_id] == []
    stored = site.api.get("/permission-requests?all=true")["items"]
    mine = [r for r in stored if r["session_id"] == session_id]
    assert [(r["state"], r["policy"]) for r in mine] == [("answered", "allow-edits")]


def test_a_write_outside_the_workspace_is_refused_even_under_allow_all(site: SessionSite) -> None:
    outside = Path(f"/tmp/outside-{uuid.uuid4().hex}.txt")
    session_id = ready(site, policy="allow-all")
    prompt_id = site.prompt(session_id, f"permission path={outside} content=x")
    assert site.turn(session_id, prompt_id)["stop_reason"] == "end_turn"
    assert not outside.exists()
    events = site.events(session_id)
    decisions = of_kind(events, "permission_decision")
    assert [d["policy"] for d in decisions] == ["allow-all"]
    said = agent_message_text(events)
    assert f"Could not write {outside}" in said, said
    assert "outside the workspace" in said, said
    site.wait_state(session_id, "idle")


def test_a_missing_attachment_fails_its_turn_only(site: SessionSite) -> None:
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    accepted = site.api.post(
        f"/sessions/{session['id']}/prompts",
        {"text": "echo with a file", "resources": ["nope.txt"]},
        expect=202,
    )
    end = site.turn(session["id"], accepted["prompt_id"])
    assert "nope.txt does not exist" in end["error"], end
    assert site.wait_state(session["id"], "idle")["state"] == "idle"
    assert (
        site.turn(session["id"], site.prompt(session["id"], "echo still here"))["stop_reason"]
        == "end_turn"
    )


def test_cancelling_a_turn_answers_its_pending_request_cancelled(site: SessionSite) -> None:
    session_id = ready(site)
    prompt_id = site.prompt(session_id, "permission path=cancelled.txt content=x")
    request = site.pending_request(session_id, prompt_id)
    site.api.post(f"/sessions/{session_id}/cancel", expect=200)
    assert site.turn(session_id, prompt_id)["stop_reason"] == "cancelled"
    decision = of_kind(site.events(session_id), "permission_decision")[-1]
    assert (decision["request_id"], decision["outcome"]) == (request["id"], "cancelled")
    assert not (site.checkout / "cancelled.txt").exists()
    listed = site.api.get("/permission-requests?all=true")["items"]
    assert next(r for r in listed if r["id"] == request["id"])["state"] == "cancelled"


def test_an_unanswered_request_is_rejected_after_the_timeout(site: SessionSite) -> None:
    session_id = ready(site)
    prompt_id = site.prompt(session_id, "permission path=timed-out.txt content=x")
    site.pending_request(session_id, prompt_id)
    end = site.turn(session_id, prompt_id)
    assert end["stop_reason"] == "end_turn"
    decision = of_kind(site.events(session_id), "permission_decision")[-1]
    assert (decision["policy"], decision["option_id"]) == ("timeout", "reject")
    assert not (site.checkout / "timed-out.txt").exists()
