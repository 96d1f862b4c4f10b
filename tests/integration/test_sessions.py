"""Agent sessions through real processes: `corral serve`, a `corral node run` agent, and the
scripted ACP agent (tests/support/scripted_agent.py) in a sandboxed workspace.

One control plane, node and workspace serve the whole module; each test starts its own session.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from corral.node.runtimes.host import DEFAULT_HIDDEN_PATHS
from tests.support.nodes import Api, eventually, exchange, node_agent
from tests.support.processes import corral_env, corral_server

SCRIPTED_AGENT = Path(__file__).parents[1] / "support" / "scripted_agent.py"
WAIT_SECONDS = 60.0
README = "sessions readme\n"


def _python_visible_hidden_paths() -> list[str]:
    """The runtime's hidden paths, minus those holding this Python (pyenv lives in /root):
    the scripted agent runs on it inside the sandbox."""
    prefixes = [Path(sys.base_prefix).resolve(), Path(sys.prefix).resolve()]
    return [
        path
        for path in DEFAULT_HIDDEN_PATHS
        if not any(p == Path(path) or Path(path) in p.parents for p in prefixes)
    ]


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, timeout=30)

    git("init", "-q", "-b", "main")
    (path / "README.md").write_text(README)
    (path / "notes.txt").write_text("old notes\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "init")
    return path


@dataclass
class Site:
    api: Api
    url: str
    workspace_id: str
    checkout: Path
    home: Path
    node_dir: Path

    def start(self, agent: str = "scripted", **body: Any) -> dict[str, Any]:
        session: dict[str, Any] = self.api.post(
            "/sessions", {"workspace": self.workspace_id, "agent": agent, **body}
        )
        return session

    def session(self, session_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api.get(f"/sessions/{session_id}")
        return found

    def wait_state(self, session_id: str, *states: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            found = self.session(session_id)
            return found if found["state"] in states else None

        found: dict[str, Any] = eventually(check, f"session in {states}", lambda: "", WAIT_SECONDS)
        return found

    def prompt(self, session_id: str, text: str) -> str:
        accepted = self.api.post(f"/sessions/{session_id}/prompts", {"text": text}, expect=202)
        return str(accepted["prompt_id"])

    def events(self, session_id: str, after: int = 0) -> list[dict[str, Any]]:
        page = self.api.get(f"/sessions/{session_id}/events?after={after}&limit=5000")
        return list(page["items"])

    def turn(self, session_id: str, prompt_id: str) -> dict[str, Any]:
        """Wait for the turn's end; return its turn_end payload."""

        def check() -> dict[str, Any] | None:
            for event in self.events(session_id):
                if event["kind"] == "turn_end" and event["payload"]["prompt_id"] == prompt_id:
                    return dict(event["payload"])
            return None

        found: dict[str, Any] = eventually(
            check, f"the end of {prompt_id}", lambda: "", WAIT_SECONDS
        )
        return found

    def pending_request(self, session_id: str) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            items = self.api.get("/permission-requests")["items"]
            mine = [r for r in items if r["session_id"] == session_id]
            return mine[0] if mine else None

        found: dict[str, Any] = eventually(check, "a permission request", lambda: "", WAIT_SECONDS)
        return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("sessions")
    repo = make_repo(base / "repo")
    env = corral_env(base / "server-home", None, CORRAL_NODES__HEARTBEAT_INTERVAL_SECONDS="1")
    with ExitStack() as stack:
        server = stack.enter_context(corral_server(base / "data", env))
        assert server.link is not None
        api = Api(server.url, exchange(server.url, server.link))
        stack.callback(api.close)
        created = api.post("/nodes", {"name": "n1"})
        node_env = corral_env(
            base / "node-home",
            None,
            CORRAL_NODE_RECONNECT_MIN_SECONDS="0.1",
            CORRAL_NODE_RECONNECT_MAX_SECONDS="0.5",
            CORRAL_NODE_RUNTIME_SETTINGS=json.dumps(
                {"hidden_paths": _python_visible_hidden_paths()}
            ),
            CORRAL_NODE_SESSIONS__CANCEL_GRACE_SECONDS="3",
            CORRAL_NODE_SESSIONS__START_TIMEOUT_SECONDS="20",
        )
        node_dir = base / "node"
        stack.enter_context(
            node_agent(node_dir, node_env, control_url=server.url, join_token=created["join_token"])
        )
        eventually(
            lambda: api.get("/nodes")["items"][0]["connected"] or None,
            "the node linked",
            lambda: "",
            WAIT_SECONDS,
        )
        api.post("/projects", {"name": "demo", "repo": str(repo), "env": {"DEMO_VAR": "demo"}})
        workspace = api.post("/workspaces", {"project": "demo", "name": "w1", "node": "n1"})
        eventually(
            lambda: api.get(f"/workspaces/{workspace['id']}")["state"] == "running" or None,
            "the workspace running",
            lambda: "",
            WAIT_SECONDS,
        )
        area = node_dir / "workspaces" / workspace["id"]
        api.post(
            "/agents",
            {"name": "scripted", "command": [sys.executable, str(SCRIPTED_AGENT)]},
        )
        api.call(
            "PATCH",
            "/agents/scripted/settings",
            json={"env": {"SCRIPTED_AGENT_STATE": str(area / "home" / ".scripted")}},
        )
        yield Site(api, server.url, workspace["id"], area / "repo", area / "home", node_dir)


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["kind"] for e in events]


def test_a_prompt_streams_the_agents_reply_into_the_transcript(site: Site) -> None:
    session = site.start()
    assert session["state"] == "starting"
    site.wait_state(session["id"], "idle")
    prompt_id = site.prompt(session["id"], "echo hello from corral")
    end = site.turn(session["id"], prompt_id)
    assert end["stop_reason"] == "end_turn"
    events = site.events(session["id"])
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    text = "".join(
        e["payload"]["content"]["text"]
        for e in events
        if e["kind"] == "update" and e["payload"]["sessionUpdate"] == "agent_message_chunk"
    )
    assert "hello from corral" in text
    found = site.wait_state(session["id"], "idle")
    assert found["title"] == "echo hello from corral"
    assert "hello from corral" in (found["last_message"] or "")


def test_an_approved_write_changes_the_file_and_a_rejected_one_does_not(site: Site) -> None:
    session = site.start()
    site.wait_state(session["id"], "idle")
    prompt_id = site.prompt(session["id"], "permission path=notes.txt content=approved")
    request = site.pending_request(session["id"])
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
    request = site.pending_request(session["id"])
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


def test_unknown_update_kinds_are_kept_as_sent(site: Site) -> None:
    session = site.start()
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


def test_cancel_ends_a_running_turn(site: Site) -> None:
    session = site.start()
    site.wait_state(session["id"], "idle")
    prompt_id = site.prompt(session["id"], "slow seconds=30")
    site.wait_state(session["id"], "running")
    site.api.post(f"/sessions/{session['id']}/cancel", expect=200)
    assert site.turn(session["id"], prompt_id)["stop_reason"] == "cancelled"
    site.wait_state(session["id"], "idle")


def test_a_crashing_agent_puts_the_session_in_error_with_its_stderr(site: Site) -> None:
    session = site.start()
    site.wait_state(session["id"], "idle")
    site.prompt(session["id"], "crash")
    failed = site.wait_state(session["id"], "error")
    assert "exited with code 3" in failed["state_reason"], failed


def test_reading_outside_the_workspace_is_refused(site: Site) -> None:
    session = site.start()
    site.wait_state(session["id"], "idle")
    secret = site.node_dir / "node.json"
    prompt_id = site.prompt(session["id"], f"read path={secret}")
    site.turn(session["id"], prompt_id)
    text = json.dumps(site.events(session["id"]))
    assert "outside the workspace" in text
    assert "credential" not in text


def test_the_websocket_replays_then_follows_with_no_gap(site: Site) -> None:
    session = site.start()
    site.wait_state(session["id"], "idle")
    site.turn(session["id"], site.prompt(session["id"], "echo first"))
    ws_url = site.url.replace("http", "ws", 1) + f"/api/v1/sessions/{session['id']}/events/ws"
    seen: list[dict[str, Any]] = []
    with connect(ws_url + "?after=0", additional_headers=site.api.headers) as connection:
        second = site.prompt(session["id"], "echo second")
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            frame = json.loads(connection.recv(timeout=WAIT_SECONDS))
            seen += frame["events"]
            if any(e["kind"] == "turn_end" and e["payload"]["prompt_id"] == second for e in seen):
                break
    assert [e["seq"] for e in seen] == list(range(1, len(seen) + 1))
    stored = site.events(session["id"])
    assert [e["seq"] for e in seen] == [e["seq"] for e in stored[: len(seen)]]


def test_a_builtin_agent_without_a_credential_fails_before_it_runs(site: Site) -> None:
    response = site.api.request(
        "POST", "/sessions", json={"workspace": site.workspace_id, "agent": "claude"}
    )
    assert response.status_code == 422, response.text
    assert "credential" in response.json()["error"]["message"]
    assert site.api.get("/sessions?state=starting")["items"] == []


def test_a_stopped_session_resumes_on_the_next_prompt(site: Site) -> None:
    session = site.start()
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
