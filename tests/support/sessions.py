"""A control plane, a node and a running workspace for agent-session tests, all real processes.

`session_site` starts `corral serve` and a `corral node run` agent, makes a project from a small
git repository and a workspace on the node, and yields a `SessionSite` with helpers that wait
for what users wait for: a session's state, a turn's end, a permission request.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.nodes import Api, NodeProcess, exchange, node_agent
from tests.support.processes import CorralServer, corral_env, corral_server
from tests.support.waits import eventually_sync

__all__ = [
    "SCRIPTED_AGENT",
    "SCRIPTED_AGENT_RUNTIME_SETTINGS",
    "SessionSite",
    "agent_message_text",
    "make_repo",
    "session_site",
]

SCRIPTED_AGENT = Path(__file__).parent / "scripted_agent.py"
EVENT_PAGE = 5000  # the API's largest page
WAIT_SECONDS = 60.0


SCRIPTED_AGENT_RUNTIME_SETTINGS = json.dumps({"host": {"sandbox": "none"}})
"""Node runtime settings for the scripted agent: it runs on this Python and its venv, which may
live under /tmp (CI works in a fresh clone there), and a sandbox replaces /tmp with the
workspace's own. The real agents (tests/integration/test_real_agents.py) run sandboxed."""


def make_repo(path: Path, files: dict[str, str]) -> Path:
    path.mkdir(parents=True)

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(path), *args], check=True, capture_output=True, timeout=30)

    git("init", "-q", "-b", "main")
    for name, text in files.items():
        (path / name).write_text(text)
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "init")
    return path


def agent_message_text(events: list[dict[str, Any]]) -> str:
    return "".join(
        e["payload"]["content"].get("text", "")
        for e in events
        if e["kind"] == "update"
        and e["payload"].get("sessionUpdate") == "agent_message_chunk"
        and isinstance(e["payload"].get("content"), dict)
    )


@dataclass
class SessionSite:
    api: Api
    url: str
    workspace_id: str
    checkout: Path
    home: Path
    node_dir: Path
    wait_seconds: float = WAIT_SECONDS
    server: CorralServer | None = None
    restart: Callable[[], CorralServer] | None = None
    """Start the control plane again on the same data directory and port."""
    node: NodeProcess | None = None
    restart_node: Callable[[], NodeProcess] | None = None
    """Start the node daemon again on its data directory (it has joined: no token)."""

    def kill_and_restart_control_plane(self) -> None:
        """kill -9 the control plane by PID, then start it again."""
        assert self.server is not None and self.restart is not None
        os.kill(self.server.pid, signal.SIGKILL)
        self.server.stop()
        self.server = self.restart()

    def kill_and_restart_node(self) -> None:
        """kill -9 the node daemon by PID, as a crash would end it, then start it again; its
        sessions end with it."""
        assert self.node is not None and self.restart_node is not None
        self.node.kill()
        self.node = self.restart_node()

    def add_scripted_agent(self) -> None:
        """Add the scripted agent as `scripted`, keeping its transcripts in the workspace's
        home, so that a later process of it can load a session an earlier one had."""
        self.api.post(
            "/agents", {"name": "scripted", "command": [sys.executable, str(SCRIPTED_AGENT)]}
        )
        self.api.call(
            "PATCH",
            "/agents/scripted/settings",
            json={"env": {"SCRIPTED_AGENT_STATE": str(self.home / ".scripted")}},
        )

    def start(self, agent: str, **body: Any) -> dict[str, Any]:
        session: dict[str, Any] = self.api.post(
            "/sessions", {"workspace": self.workspace_id, "agent": agent, **body}
        )
        return session

    def session(self, session_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api.get(f"/sessions/{session_id}")
        return found

    def _context(self, session_id: str) -> str:
        found = self.session(session_id)
        events = self.events(session_id)
        return f"session {json.dumps(found)}\nevents {json.dumps(events)[-4000:]}"

    def wait_state(
        self, session_id: str, *states: str, seconds: float | None = None
    ) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            found = self.session(session_id)
            if found["state"] in ("error", "stopped") and found["state"] not in states:
                pytest.fail(f"the session ended: {self._context(session_id)}")
            return found if found["state"] in states else None

        return eventually_sync(
            check,
            f"session in {states}",
            wait_seconds=seconds or self.wait_seconds,
            context=lambda: self._context(session_id),
        )

    def prompt(self, session_id: str, text: str) -> str:
        accepted = self.api.post(f"/sessions/{session_id}/prompts", {"text": text}, expect=202)
        return str(accepted["prompt_id"])

    def events(self, session_id: str, after: int = 0) -> list[dict[str, Any]]:
        """Every stored event after `after`, a page at a time."""
        events: list[dict[str, Any]] = []
        while True:
            page = self.api.get(f"/sessions/{session_id}/events?after={after}&limit={EVENT_PAGE}")
            events += page["items"]
            if len(page["items"]) < EVENT_PAGE:
                return events
            after = page["items"][-1]["seq"]

    def turn(self, session_id: str, prompt_id: str) -> dict[str, Any]:
        """Wait for the turn's end; return its turn_end payload."""

        def check() -> dict[str, Any] | None:
            for event in self.events(session_id):
                if event["kind"] == "turn_end" and event["payload"]["prompt_id"] == prompt_id:
                    return dict(event["payload"])
            return None

        return eventually_sync(
            check,
            f"the end of {prompt_id}",
            wait_seconds=self.wait_seconds,
            context=lambda: self._context(session_id),
        )

    def pending_request(self, session_id: str, prompt_id: str) -> dict[str, Any]:
        """The request the turn of `prompt_id` waits on; fails at once if the turn ends."""

        def check() -> dict[str, Any] | None:
            items = self.api.get("/permission-requests")["items"]
            mine = [r for r in items if r["session_id"] == session_id]
            ended = any(
                e["kind"] == "turn_end" and e["payload"].get("prompt_id") == prompt_id
                for e in self.events(session_id)
            )
            if not mine and ended:
                pytest.fail(f"the turn ended, asking nothing: {self._context(session_id)}")
            return mine[0] if mine else None

        return eventually_sync(
            check,
            "a permission request",
            wait_seconds=self.wait_seconds,
            context=lambda: self._context(session_id),
        )

    def answer(self, request: dict[str, Any], kind: str) -> dict[str, Any]:
        """Answer with the request's first option of `kind` (ids differ between agents)."""
        option = next(o for o in request["options"] if o["kind"] == kind)
        answered: dict[str, Any] = self.api.post(
            f"/permission-requests/{request['id']}/answer",
            {"option_id": option["optionId"]},
            expect=200,
        )
        return answered


@contextmanager
def session_site(
    base: Path,
    files: dict[str, str],
    *,
    node_env: dict[str, str],
    wait_seconds: float,
    server_env: dict[str, str] | None = None,
    repo: Path | None = None,
    workspace_body: dict[str, Any] | None = None,
) -> Iterator[SessionSite]:
    """`repo`: a repository made by the caller instead of one of `files`; `workspace_body`:
    more of the workspace's create request (its runtime)."""
    repo = repo or make_repo(base / "repo", files)
    env = corral_env(
        base / "server-home",
        None,
        CORRAL_NODES__HEARTBEAT_INTERVAL_SECONDS="1",
        **(server_env or {}),
    )
    with ExitStack() as stack:
        server = stack.enter_context(corral_server(base / "data", env))
        assert server.link is not None
        api = Api(server.url, exchange(server.url, server.link))
        stack.callback(api.close)
        created = api.post("/nodes", {"name": "n1"})
        agent_env = corral_env(
            base / "node-home",
            None,
            CORRAL_NODE_RECONNECT_MIN_SECONDS="0.1",
            CORRAL_NODE_RECONNECT_MAX_SECONDS="0.5",
            **node_env,
        )
        node_dir = base / "node"
        node = stack.enter_context(
            node_agent(
                node_dir, agent_env, control_url=server.url, join_token=created["join_token"]
            )
        )
        eventually_sync(
            lambda: api.get("/nodes")["items"][0]["connected"],
            "the node linked",
            wait_seconds=WAIT_SECONDS,
            context=node.describe,
        )
        api.post("/projects", {"name": "demo", "repo": str(repo)})
        workspace = api.post(
            "/workspaces",
            {"project": "demo", "name": "w1", "node": "n1", **(workspace_body or {})},
        )
        eventually_sync(
            lambda: api.get(f"/workspaces/{workspace['id']}")["state"] == "running",
            "the workspace running",
            wait_seconds=wait_seconds,
            context=lambda: f"{api.get('/workspaces/' + workspace['id'])}\n{node.describe()}",
        )
        area = node_dir / "workspaces" / workspace["id"]
        # The host runtime's checkout is `repo/`; a dev container's is named after the workspace.
        checkout = area / "repo" if (area / "repo").is_dir() else area / "w1"

        def restart() -> CorralServer:
            return stack.enter_context(
                corral_server(base / "data", env, port=server.port, expect_link=False)
            )

        def restart_node() -> NodeProcess:
            return stack.enter_context(node_agent(node_dir, agent_env, control_url=server.url))

        yield SessionSite(
            api,
            server.url,
            workspace["id"],
            checkout,
            area / "home",
            node_dir,
            wait_seconds,
            server,
            restart,
            node,
            restart_node,
        )
