"""Real agents from npm, whole turns, driven through Corral: the three built in, and Qwen Code
added as a custom agent (`POST /api/v1/agents`, the entry docs/sessions.md shows), so your own
agents are tested as first-class as the built-in ones.

Each agent is installed by the node (into a cache kept between runs, so only the first run on a
machine downloads them), runs in the workspace's sandbox with Corral's settings (a credential,
an endpoint, extra env and args), and talks to a scripted model server that speaks its
provider's API (tests/support/model_server.py; Qwen speaks OpenAI Chat Completions). The server
listens in a network namespace standing in for the internet (tests/support/netns.py): a
sandboxed agent reaches it through its own user-mode network, as it would reach its provider,
and could not reach the node's 127.0.0.1.

For each agent: an edit the user approves changes the file and its diff is in the transcript;
an edit the user rejects leaves the file alone; a turn cancelled while the model is mid-answer
ends `cancelled`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.catalog import QWEN_CODE
from tests.support.model_server import EditFile, ModelServer, Reply, Stall, serve_models
from tests.support.netns import OutsideHost, outside_host
from tests.support.sessions import SessionSite, session_site

ORIGINAL = "a = 1\nprint(a)\n"
PROMPT = "Change a to 2 in hello.py"
# Installing and first starts can take minutes on a cold machine.
WAIT_SECONDS = 300.0
CACHE = Path(os.environ.get("CORRAL_TEST_CACHE", Path.home() / ".cache" / "corral-tests"))


@dataclass(frozen=True)
class AgentCase:
    name: str
    credential_kind: str
    endpoint_suffix: str = ""
    env: dict[str, str] | None = None
    args: list[str] | None = None
    entry: dict[str, Any] | None = None
    """A custom agent's catalog entry, added before the tests; None for a built-in agent."""


CASES = [
    AgentCase(
        "claude",
        "anthropic",
        # No "what will the user type next" request after each turn: the script would have to
        # expect it.
        env={"CLAUDE_CODE_ENABLE_PROMPT_SUGGESTION": "false"},
    ),
    # The model must be one Codex knows, or it offers no apply_patch tool.
    AgentCase("codex", "openai", endpoint_suffix="/v1", args=["-c", 'model="gpt-5.3-codex"']),
    AgentCase("gemini", "gemini"),
    AgentCase(
        "qwen",
        "openai",
        endpoint_suffix="/v1",
        env={"OPENAI_MODEL": "scripted-model"},
        entry=QWEN_CODE,
    ),
]


@pytest.fixture(scope="module")
def internet() -> Iterator[OutsideHost]:
    with outside_host() as host:
        yield host


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionSite]:
    base = tmp_path_factory.mktemp("real-agents")
    node_env = {
        "CORRAL_NODE_AGENTS_DIR": str(CACHE / "agents"),
        "npm_config_cache": str(CACHE / "npm"),
    }
    with session_site(
        base, {"hello.py": ORIGINAL}, node_env=node_env, wait_seconds=WAIT_SECONDS
    ) as site:
        for case in CASES:
            if case.entry is not None:
                site.api.post("/agents", {"name": case.name, **case.entry})
        yield site


def configure(site: SessionSite, case: AgentCase, models: ModelServer) -> None:
    stored = site.api.request(
        "PUT",
        f"/credentials/{case.name}-key",
        json={"kind": case.credential_kind, "value": f"test-key-for-{case.name}-0000"},
    )
    assert stored.status_code in (200, 201), stored.text
    site.api.call(
        "PATCH",
        f"/agents/{case.name}/settings",
        json={
            "credential": f"{case.name}-key",
            "endpoint": models.base_url + case.endpoint_suffix,
            "env": case.env or {},
            "args": case.args or [],
        },
    )


def reset(site: SessionSite) -> Path:
    target = site.checkout / "hello.py"
    target.write_text(ORIGINAL)
    return target


def diffs(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found = []
    for event in events:
        payload = event["payload"]
        content = payload.get("content") if event["kind"] == "update" else None
        if event["kind"] == "permission_request":
            content = (payload.get("tool_call") or {}).get("content")
        for item in content or []:
            if isinstance(item, dict) and item.get("type") == "diff":
                found.append(item)
    return found


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_an_approved_edit_changes_the_file(
    site: SessionSite, internet: OutsideHost, case: AgentCase
) -> None:
    target = reset(site)
    script = [Reply("I'll edit it.", EditFile(str(target), "a = 1\n", "a = 2\n")), Reply("Done.")]
    with serve_models(script, listen=internet.listen()) as models:
        configure(site, case, models)
        session = site.start(case.name)
        site.wait_state(session["id"], "idle")
        prompt_id = site.prompt(session["id"], PROMPT)
        request = site.pending_request(session["id"], prompt_id)
        site.answer(request, "allow_once")
        end = site.turn(session["id"], prompt_id)
        assert end.get("stop_reason") == "end_turn", end
        assert target.read_text() == "a = 2\nprint(a)\n"
        events = site.events(session["id"])
        assert any("a = 2" in str(d.get("newText")) for d in diffs(events)), events
        assert models.errors == []
        site.api.post(f"/sessions/{session['id']}/stop", expect=200)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_rejected_edit_leaves_the_file_alone(
    site: SessionSite, internet: OutsideHost, case: AgentCase
) -> None:
    target = reset(site)
    script = [Reply("I'll edit it.", EditFile(str(target), "a = 1\n", "a = 3\n")), Reply("OK.")]
    with serve_models(script, listen=internet.listen()) as models:
        configure(site, case, models)
        session = site.start(case.name)
        site.wait_state(session["id"], "idle")
        prompt_id = site.prompt(session["id"], PROMPT)
        request = site.pending_request(session["id"], prompt_id)
        answered = site.answer(request, "reject_once")
        assert answered["state"] == "answered"
        end = site.turn(session["id"], prompt_id)
        # Codex ends the turn on a rejection; the others carry on and finish it.
        assert end.get("stop_reason") in ("end_turn", "cancelled"), end
        assert target.read_text() == ORIGINAL
        site.api.post(f"/sessions/{session['id']}/stop", expect=200)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_a_turn_cancelled_mid_answer_ends_cancelled(
    site: SessionSite, internet: OutsideHost, case: AgentCase
) -> None:
    reset(site)
    with serve_models([Stall("Let me think")], listen=internet.listen()) as models:
        configure(site, case, models)
        session = site.start(case.name)
        site.wait_state(session["id"], "idle")
        prompt_id = site.prompt(session["id"], PROMPT)
        models.wait_for_stall(WAIT_SECONDS)
        site.api.post(f"/sessions/{session['id']}/cancel", expect=200)
        end = site.turn(session["id"], prompt_id)
        assert end.get("stop_reason") == "cancelled", end
        assert site.wait_state(session["id"], "idle")["state"] == "idle"
        site.api.post(f"/sessions/{session['id']}/stop", expect=200)


def test_no_credential_is_left_on_the_node(site: SessionSite) -> None:
    """Credentials reach agents only through their environment: after every turn above, no
    file on the node (workspaces and agents' HOMEs included) holds one."""
    values = [f"test-key-for-{case.name}-0000".encode() for case in CASES]
    for path in site.node_dir.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            for value in values:
                assert value not in data, f"{value.decode()} is in {path}"
