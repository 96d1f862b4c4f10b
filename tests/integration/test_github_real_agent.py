"""A real agent's edit becomes a GitHub pull request: Claude Code from npm (installed into the
cache tests/integration/test_real_agents.py keeps), running in the workspace's sandbox, edits a
file of a private repository on the fake GitHub (tests/support/github_fake.py) reached with a
personal access token (the `github` credential); "open a pull request" pushes the branch and
opens it. tests/integration/test_github_flow.py does the same with the scripted agent.

What a user would notice: the agent's approved edit is on the pushed `corral/...` branch, the
pull request's body tells the prompt and lists the changed file, and the token is in no file
and no process environment afterwards.

The fake GitHub listens in a network namespace standing in for the internet
(tests/support/netns.py), beside the scripted model server, not on 127.0.0.1 as in the other
GitHub tests. The node clones outside any sandbox, but `git push` runs inside the workspace
(src/corral/node/gitpublish.py), and a sandbox's isolated network (slirp4netns) reaches the
internet but never the node's 127.0.0.1: with the fake there, the clone succeeds and the push
fails. So a forge reachable only on the node's loopback cannot take pushes from sandboxed
workspaces; github.com, or a GitHub Enterprise Server on the network, can, which is what this
test exercises with the sandbox on.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from tests.integration.test_real_agents import CACHE, CASES, WAIT_SECONDS, configure
from tests.support.github_fake import FakeGitHub, fake_github
from tests.support.leaks import assert_in_no_file_or_environ
from tests.support.model_server import EditFile, Reply, serve_models
from tests.support.netns import OutsideHost, outside_host
from tests.support.sessions import SessionSite, session_site

REPO = "acme/widgets"
ORIGINAL = "a = 1\nprint(a)\n"
PROMPT = "Change a to 2 in hello.py"
CLAUDE = next(case for case in CASES if case.name == "claude")


@dataclass
class Site:
    github: FakeGitHub
    sessions: SessionSite
    """Its workspace is the GitHub project's."""
    internet: OutsideHost
    base: Path
    token: str


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("github-real-agent")
    with (
        outside_host() as internet,
        fake_github(base / "github", listen=internet.listen()) as github,
    ):
        github.add_user("octo", name="Octo Cat", email="octo@example.com")
        github.add_repo(REPO, private=True, files={"hello.py": ORIGINAL})
        token = github.add_personal_token("octo", [REPO])
        node_env = {
            "CORRAL_NODE_AGENTS_DIR": str(CACHE / "agents"),
            "npm_config_cache": str(CACHE / "npm"),
        }
        server_env = {
            "CORRAL_GITHUB__WEB_URL": github.web_url,
            "CORRAL_GITHUB__API_URL": github.api_url,
        }
        with session_site(
            base,
            {"README.md": "unused\n"},
            node_env=node_env,
            server_env=server_env,
            wait_seconds=WAIT_SECONDS,
        ) as sessions:
            api = sessions.api
            stored = api.request("PUT", "/credentials/gh", json={"kind": "github", "value": token})
            assert stored.status_code in (200, 201), stored.text
            api.post("/projects", {"name": "widgets", "github": REPO, "credential": "gh"})
            workspace = api.post("/workspaces", {"project": "widgets", "name": "ww", "node": "n1"})
            api.workspace_running(workspace["id"], WAIT_SECONDS)
            area = sessions.node_dir / "workspaces" / workspace["id"]
            sessions = replace(
                sessions, workspace_id=workspace["id"], checkout=area / "repo", home=area / "home"
            )
            yield Site(github, sessions, internet, base, token)


def test_a_real_agents_edit_becomes_a_pull_request(site: Site) -> None:
    sessions = site.sessions
    target = sessions.checkout / "hello.py"
    assert target.read_text() == ORIGINAL  # the private clone authenticated
    script = [Reply("I'll edit it.", EditFile(str(target), "a = 1\n", "a = 2\n")), Reply("Done.")]
    with serve_models(script, listen=site.internet.listen()) as models:
        configure(sessions, CLAUDE, models)
        session = sessions.start(CLAUDE.name)
        sessions.wait_state(session["id"], "idle")
        prompt_id = sessions.prompt(session["id"], PROMPT)
        sessions.answer(sessions.pending_request(session["id"], prompt_id), "allow_once")
        end = sessions.turn(session["id"], prompt_id)
        assert end.get("stop_reason") == "end_turn", end
        assert models.errors == []
    assert target.read_text() == "a = 2\nprint(a)\n"

    opened = sessions.api.post(
        f"/sessions/{session['id']}/pull-request", {"title": "Set a to 2"}, expect=200
    )
    pulls = [p for p in site.github.pulls if p.repo == REPO]
    assert len(pulls) == 1, pulls
    pull = pulls[0]
    assert opened["url"] == pull.html_url
    assert pull.title == "Set a to 2"
    assert pull.base == "main"
    assert re.fullmatch(r"corral/[a-z0-9-]+", pull.head), pull.head
    assert pull.body is not None
    assert PROMPT in pull.body
    assert "`hello.py`" in pull.body  # the files changed
    assert any(push.repo == REPO and push.auth == "pat" for push in site.github.pushes)
    assert site.github.repo(REPO).read_file(pull.head, "hello.py") == "a = 2\nprint(a)\n"

    sessions.api.post(f"/sessions/{session['id']}/stop", expect=200)
    assert_in_no_file_or_environ(site.base, [site.token], skip=[site.base / "github"])
