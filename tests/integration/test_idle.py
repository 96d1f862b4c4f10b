"""The idle policy through real processes: `corral serve` with an idle timeout of a few seconds,
a `corral node run` agent and the scripted ACP agent (tests/support/scripted_agent.py).

An idle workspace stops by itself, says why in its state and in the activity feed, and its chat
resumes once it is started again; an agent mid-turn and an attached terminal viewer keep their
workspaces running. Whether a workspace was left alone is read once a witness has stopped: a
workspace that went idle after it did, so the check that stopped the witness found it past its
deadline too, had nothing held it. While a test sets up what holds its workspace, the workspace
has its own timeout `0` (never), so setting up takes as long as it takes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.asyncio.client import connect

from tests.support.nodes import open_viewer, terminal_url
from tests.support.processes import assert_one_line_error, corral_env, run_cli
from tests.support.sessions import (
    SCRIPTED_AGENT_RUNTIME_SETTINGS,
    SessionSite,
    agent_message_text,
    session_site,
)
from tests.support.waits import Gate, eventually, eventually_sync

TIMEOUT_MINUTES = 0.05
REASON = "stopped after 3 s idle"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionSite]:
    base = tmp_path_factory.mktemp("idle")
    node_env = {"CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS}
    server_env = {
        "CORRAL_IDLE__DEFAULT_TIMEOUT_MINUTES": f"{TIMEOUT_MINUTES:g}",
        "CORRAL_IDLE__CHECK_INTERVAL_SECONDS": "0.2",
        "CORRAL_IDLE__ACTIVITY_WRITE_INTERVAL_SECONDS": "0.2",
        # A node slowed by a busy machine is not what these tests are about: a few missed
        # beats must not move its workspaces to `error` under them.
        "CORRAL_NODES__MISSED_HEARTBEATS_BEFORE_STALE": "10",
    }
    files = {"README.md": "idle readme\n"}
    with session_site(
        base, files, node_env=node_env, wait_seconds=60.0, server_env=server_env
    ) as site:
        site.add_scripted_agent()
        yield site


def held(site: SessionSite, name: str) -> dict[str, Any]:
    """A new running workspace that is never stopped for being idle (until `let_go`)."""
    created = site.api.post("/workspaces", {"project": "demo", "name": name, "node": "n1"})
    site.api.call("PATCH", f"/workspaces/{created['id']}", json={"idle_timeout_minutes": 0})
    running: dict[str, Any] = site.api.workspace_running(created["id"])
    return running


def let_go(site: SessionSite, workspace_id: str) -> None:
    """Back to the control plane's idle timeout of a few seconds."""
    found = site.api.call(
        "PATCH", f"/workspaces/{workspace_id}", json={"idle_timeout_minutes": None}
    )
    assert found["idle_timeout_minutes"] == TIMEOUT_MINUTES


def stopped(site: SessionSite, workspace_id: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        found: dict[str, Any] = site.api.get(f"/workspaces/{workspace_id}")
        return found if found["state"] == "stopped" else None

    return eventually_sync(check, f"workspace {workspace_id} stopped", wait_seconds=60.0)


def witness_stopped(site: SessionSite, name: str) -> None:
    """A workspace made now, then left idle, stops by itself."""
    witness = site.api.post("/workspaces", {"project": "demo", "name": name, "node": "n1"})
    site.api.workspace_running(witness["id"])
    stopped(site, witness["id"])


async def until_stopped(site: SessionSite, workspace_id: str) -> None:
    """`stopped` for a test that holds sockets open: it must not block their event loop."""
    await eventually(
        lambda: site.api.get(f"/workspaces/{workspace_id}")["state"] == "stopped",
        f"workspace {workspace_id} stopped",
        wait_seconds=60.0,
    )


async def left_alone(site: SessionSite, workspace_id: str, witness_name: str) -> None:
    """Once a witness made now has stopped for being idle, the workspace is still running,
    with the time it stops once left idle."""
    witness = site.api.post("/workspaces", {"project": "demo", "name": witness_name, "node": "n1"})
    await until_stopped(site, witness["id"])
    found = site.api.get(f"/workspaces/{workspace_id}")
    assert found["state"] == "running"
    assert found["idle_stop_at"] is not None  # when it stops once nobody watches


def test_an_idle_workspace_stops_by_itself_and_its_chat_resumes_after_start(
    site: SessionSite,
) -> None:
    workspace = held(site, "chat")
    session = site.api.post("/sessions", {"workspace": workspace["id"], "agent": "scripted"})
    site.wait_state(session["id"], "idle")
    site.turn(session["id"], site.prompt(session["id"], "echo remember the word walnut"))
    let_go(site, workspace["id"])

    found = stopped(site, workspace["id"])
    assert found["state_reason"] == REASON
    assert found["idle_stop_at"] is None

    # The policy records why it stopped the workspace just after the stop itself is stored.
    def idle_stop_recorded() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = site.api.get(f"/activity?object_id={workspace['id']}")[
            "items"
        ]
        return items if any(e["action"] == "workspace.idle_stopped" for e in items) else None

    feed = eventually_sync(idle_stop_recorded, "the idle stop in the feed", wait_seconds=10.0)
    idle_stop = next(e for e in feed if e["action"] == "workspace.idle_stopped")
    assert (idle_stop["actor_id"], idle_stop["details"]["reason"]) == (None, REASON)
    stops = [e for e in feed if e["action"] in ("workspace.stopping", "workspace.stopped")]
    assert [(e["action"], e["actor_id"], e["details"]["reason"]) for e in stops] == [
        ("workspace.stopped", None, REASON),  # once, though the node says so twice
        ("workspace.stopping", None, REASON),
    ]
    ended = site.wait_state(session["id"], "stopped")  # the node ends it with the workspace
    before = ended["last_seq"]

    site.api.call("PATCH", f"/workspaces/{workspace['id']}", json={"idle_timeout_minutes": 0})
    site.api.post(f"/workspaces/{workspace['id']}/start", expect=200)
    site.api.workspace_running(workspace["id"])
    prompt_id = site.prompt(session["id"], "echo and now")
    assert site.turn(session["id"], prompt_id)["stop_reason"] == "end_turn"
    events = site.events(session["id"])
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert events[-1]["seq"] > before
    prompts = [e["payload"]["text"] for e in events if e["kind"] == "prompt"]
    assert prompts == ["echo remember the word walnut", "echo and now"]
    assert "and now" in agent_message_text(events)


def test_an_agent_mid_turn_keeps_its_workspace_running(site: SessionSite, tmp_path: Path) -> None:
    workspace = held(site, "busy")
    session = site.api.post("/sessions", {"workspace": workspace["id"], "agent": "scripted"})
    site.wait_state(session["id"], "idle")
    gate = Gate(tmp_path / "gate")
    prompt_id = site.prompt(session["id"], f"terminal cmd={gate.command}")
    site.wait_state(session["id"], "running")
    let_go(site, workspace["id"])
    busy = site.api.get(f"/workspaces/{workspace['id']}")
    assert (busy["idle_stop_at"], busy["idle_hold"]) == (None, "agent_working")

    witness_stopped(site, "witness-busy")
    assert site.api.get(f"/workspaces/{workspace['id']}")["state"] == "running"
    gate.open()
    site.turn(session["id"], prompt_id)
    assert stopped(site, workspace["id"])["state_reason"] == REASON


async def test_a_terminal_viewer_keeps_its_workspace_running(site: SessionSite) -> None:
    workspace = held(site, "watched")
    terminal = site.api.post(f"/workspaces/{workspace['id']}/terminals", {"cols": 80, "rows": 24})
    url = terminal_url(site.url, workspace["id"], terminal["id"])

    def context() -> str:
        feed = site.api.get(f"/activity?object_id={workspace['id']}")["items"]
        logs = site.server.stderr() if site.server else ""
        warnings = [line for line in logs.splitlines() if '"warning"' in line or '"error"' in line]
        return f"activity {feed}\nserver {warnings[-20:]}"

    async with open_viewer(url, headers=site.api.headers, context=context) as viewer:
        await viewer.type("echo typed-$((6*7))\n")
        await viewer.read_until(b"typed-42")
        let_go(site, workspace["id"])

        await left_alone(site, workspace["id"], "witness-watched")
    await until_stopped(site, workspace["id"])  # once its viewer left


async def test_a_chat_viewer_keeps_its_workspace_running(site: SessionSite) -> None:
    workspace = held(site, "chat-watched")
    session = site.api.post("/sessions", {"workspace": workspace["id"], "agent": "scripted"})
    site.wait_state(session["id"], "idle")
    url = f"{site.url.replace('http://', 'ws://', 1)}/api/v1/sessions/{session['id']}/events/ws"
    async with connect(url, additional_headers=site.api.headers) as viewer:
        assert json.loads(await viewer.recv())["type"] == "events"  # attached
        let_go(site, workspace["id"])
        await left_alone(site, workspace["id"], "witness-chat")
    await until_stopped(site, workspace["id"])  # once its viewer left


def test_the_cli_sets_and_shows_a_workspaces_idle_timeout(
    site: SessionSite, tmp_path: Path
) -> None:
    env = corral_env(tmp_path, None, CORRAL_URL=site.url, CORRAL_TOKEN=site.api.token)

    def cli(*args: str) -> str:
        result = run_cli(*args, env=env)
        assert result.returncode == 0, result
        return result.stdout

    workspace = held(site, "by-cli")
    assert "kept running: never stopped when idle (its own setting)" in cli(
        "workspace", "show", "by-cli"
    )
    shown = cli("workspace", "set", "by-cli", "--idle-timeout", "1h30m")
    assert re.search(
        r"stops at \d\d:\d\d \(in \d+ min\) when idle, after 90 min idle "
        r"\(its own setting\)",
        shown,
    ), shown
    assert site.api.get(f"/workspaces/{workspace['id']}")["idle_timeout_minutes"] == 90

    refused = run_cli("workspace", "set", "by-cli", "--idle-timeout", "30s", env=env)
    assert_one_line_error(refused, "--idle-timeout takes minutes (45, 45m), hours", "'30s'")
    too_long = run_cli("workspace", "set", "by-cli", "--idle-timeout", "721h", env=env)
    assert_one_line_error(too_long, "idle_timeout_minutes: Input should be less than or equal")

    assert "idle timeout:   never" in cli("project", "set", "demo", "--idle-timeout", "never")
    cli("workspace", "set", "by-cli", "--idle-timeout", "default")
    assert "kept running: never stopped when idle (its project's setting)" in cli(
        "workspace", "show", "by-cli"
    )
    assert "idle timeout:   the control plane's default" in cli(
        "project", "set", "demo", "--idle-timeout", "default"
    )
