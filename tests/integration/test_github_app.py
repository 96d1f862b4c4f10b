"""The whole GitHub App path, as a user walks it: the owner makes the App from Corral, signs in
with GitHub, installs the App on a private repository, adds it as a project with the CLI,
creates a workspace (the clone authenticates with an installation token), has the agent change
a file and gets a pull request from the chat; then GitHub's signed webhooks tell the chat what
became of it. Real `corral serve`, node and scripted agent; the fake GitHub (real git
smart-HTTP behind it) on 127.0.0.1. tests/integration/test_github_flow.py does the same with a
personal token, and the attacks on the checkout.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.support.github_fake import FakeGitHub, fake_github
from tests.support.processes import corral_env, run_cli
from tests.support.sessions import (
    SCRIPTED_AGENT,
    SCRIPTED_AGENT_RUNTIME_SETTINGS,
    SessionSite,
    session_site,
)
from tests.support.waits import eventually_sync

WAIT_SECONDS = 90.0
REPO = "acme/gadgets"


@dataclass
class Site:
    github: FakeGitHub
    sessions: SessionSite
    base: Path
    env: dict[str, str]
    browser: httpx.Client
    """The owner's browser on Corral, signed in (cookies)."""

    def ok(self, *args: str, input: str | None = None) -> str:
        result = run_cli(*args, env=self.env, input=input, timeout=WAIT_SECONDS)
        assert result.returncode == 0, f"corral {args}:\n{result.stdout}\n{result.stderr}"
        assert "Traceback" not in result.stderr, result.stderr
        return result.stdout

    def api(self, path: str) -> Any:
        return self.sessions.api.get(path)


def _through_github(corral: httpx.Client, start: str) -> httpx.Response:
    """Open `start` on Corral in the browser, let GitHub (the fake) approve, come back."""
    leaving = corral.get(start)
    assert leaving.status_code == 302, leaving.text
    with httpx.Client(trust_env=False, timeout=30) as github_side:
        approved = github_side.get(leaving.headers["location"])
    assert approved.status_code == 302, approved.text
    return corral.get(approved.headers["location"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    base = tmp_path_factory.mktemp("github-app")
    with fake_github(base / "github") as github:
        github.add_user("octo", name="Octo Cat", email="octo@example.com", orgs=["acme"])
        github.signed_in = "octo"
        github.add_repo(REPO, private=True, files={"README.md": "gadgets\n"})
        node_env = {"CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS}
        server_env = {
            "CORRAL_GITHUB__WEB_URL": github.web_url,
            "CORRAL_GITHUB__API_URL": github.api_url,
        }
        with session_site(
            base, {"README.md": "x\n"}, node_env=node_env, server_env=server_env,
            wait_seconds=WAIT_SECONDS,
        ) as sessions:  # fmt: skip
            admin_env = corral_env(base / "server-home")

            def login_link() -> str:
                made = run_cli("auth", "link", "--data-dir", str(base / "data"), env=admin_env)
                assert made.returncode == 0, made.stderr
                return made.stdout.strip()

            env = corral_env(base / "cli-home", base / "cli-home" / "config")
            with httpx.Client(base_url=sessions.url, trust_env=False, timeout=60) as browser:
                token = parse_qs(urlsplit(login_link()).query)["token"][0]
                signed_in = browser.post("/auth/login", data={"token": token})
                assert signed_in.status_code == 303, signed_in.text
                site = Site(github, sessions, base, env, browser)
                site.ok("login", login_link())
                site.ok("agent", "add", "scripted", "--", sys.executable, str(SCRIPTED_AGENT))
                site.ok("agent", "configure", "scripted", "--policy", "allow-edits")
                yield site


def test_from_sign_in_to_a_merged_pull_request(site: Site) -> None:
    github, browser = site.github, site.browser
    # The owner makes the App from Corral: the manifest goes to GitHub, GitHub comes back.
    csrf = {"X-CSRF-Token": browser.cookies["corral_csrf"]}
    started = browser.post("/api/v1/github/app/manifest", json={}, headers=csrf)
    assert started.status_code == 200, started.text
    with httpx.Client(trust_env=False, timeout=30) as github_side:
        form = {"manifest": json.dumps(started.json()["manifest"])}
        at_github = github_side.post(started.json()["url"], data=form)
    assert at_github.status_code == 302, at_github.text
    assert browser.get(at_github.headers["location"]).status_code == 303
    assert github.app is not None

    # They connect their GitHub account, and install the App on the private repository.
    assert _through_github(browser, "/auth/github/login?link=1").status_code in (302, 303)
    github.install_app("acme", [REPO], users=["octo"])
    # Signing in with GitHub now works from a browser that never had a Corral session.
    with httpx.Client(base_url=site.sessions.url, trust_env=False, timeout=60) as fresh:
        back = _through_github(fresh, "/auth/github/login")
        assert back.status_code in (302, 303), back.text
        assert fresh.get("/api/v1/me").json()["name"] == "owner"

    site.ok("project", "add", "gadgets", "--github", REPO)
    project = site.api("/projects/gadgets")
    assert (project["git_access"], project["github_repo"]) == ("github_app", REPO)

    site.ok("workspace", "create", "gadgets", "--name", "wg", "--node", "n1")
    workspace = site.api("/workspaces/wg")
    checkout = site.sessions.node_dir / "workspaces" / workspace["id"] / "repo"
    assert (checkout / "README.md").read_text() == "gadgets\n"
    clones = [r for r in github.requests if r.path.startswith(f"/{REPO}.git/") and r.status == 200]
    assert clones and all(r.auth == "installation" for r in clones), clones

    session_id = site.ok("session", "start", "wg", "--agent", "scripted").strip()
    site.ok("session", "prompt", session_id, "permission path=gadget.txt content=new-gadget")
    github.expire_installation_tokens()  # each git command gets a token of its own, fresh
    out = site.ok("session", "pr", session_id, "--title", "A new gadget", "--draft")
    pull = next(p for p in github.pulls if p.repo == REPO)
    assert pull.html_url in out
    assert pull.draft
    assert github.repo(REPO).read_file(pull.head, "gadget.txt") == "new-gadget"
    assert [p.auth for p in github.pushes if p.repo == REPO] == ["installation"]
    # The push's token was in the workspace for the push alone: it is revoked once it is done.
    revoked = [
        r
        for r in github.requests
        if (r.method, r.path, r.status) == ("DELETE", "/api/v3/installation/token", 204)
    ]
    assert len(revoked) == 1, revoked
    author = _git(github.repo(REPO).path, "log", "-1", "--format=%an <%ae>", pull.head)
    assert author.strip() == "Octo Cat <octo@example.com>"  # the user's GitHub identity

    # GitHub's webhooks, signed with the App's secret, reach the chat's pull request.
    assert github.fail_check(pull.number, "ci", summary="test_gadget failed") == 204
    shown = site.api(f"/sessions/{session_id}/pull-request")
    assert shown["checks"] == "failed"
    assert "test_gadget failed" in shown["failed_check"]
    fixed = site.sessions.api.post(f"/sessions/{session_id}/pull-request/fix", {}, expect=202)
    assert fixed["prompt_id"]
    eventually_sync(
        lambda: any(
            e["kind"] == "prompt" and "test_gadget failed" in e["payload"].get("text", "")
            for e in site.sessions.events(session_id)
        ),
        "the failed check sent to the chat",
        wait_seconds=WAIT_SECONDS,
    )
    assert github.request_review(pull.number, "hubot") == 204
    assert site.api(f"/sessions/{session_id}/pull-request")["review_requested"] == "hubot"
    assert github.merge_pull(pull.number) == 204
    assert site.api(f"/sessions/{session_id}/pull-request")["state"] == "merged"
    actions = [e["action"] for e in site.api("/activity")["items"]]
    for action in (
        "pull_request.opened",
        "pull_request.check_failed",
        "pull_request.review_requested",
        "pull_request.merged",
        "github.app_created",
    ):
        assert action in actions, actions

    shown = site.ok("project", "show", "gadgets")
    assert f"on GitHub:      {REPO}" in shown
    assert "reached with:   the GitHub App" in shown
    assert f"pull request {pull.html_url}  merged, checks failed" in shown, shown

    # A delivery not signed with the App's secret changes nothing.
    forged = httpx.post(
        f"{site.sessions.url}/api/v1/github/webhooks",
        content=b'{"action": "reopened", "pull_request": {"number": 1}}',
        headers={"X-GitHub-Event": "pull_request", "X-Hub-Signature-256": "sha256=" + "0" * 64},
        trust_env=False,
    )
    assert forged.status_code == 401
    assert site.api(f"/sessions/{session_id}/pull-request")["state"] == "merged"

    _assert_no_token_anywhere(site)


def _git(repo: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", "--git-dir", str(repo), *args], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _assert_no_token_anywhere(site: Site) -> None:
    """Every token GitHub issued (installation, user, refresh) and the App's secrets: in no
    file under the test's directories (data, logs, checkouts, homes), no process environment,
    no API answer."""
    assert site.github.app is not None
    secrets = [
        *site.github.issued_tokens(),
        site.github.app.client_secret,
        site.github.app.webhook_secret,
    ]
    assert len(site.github.issued_tokens("installation")) >= 3  # clone, push, pull request
    needles = [s.encode() for s in secrets]
    pem_line = site.github.app.pem.splitlines()[1].encode()
    for path in site.base.rglob("*"):
        if path.is_relative_to(site.base / "github") or path.is_symlink() or not path.is_file():
            continue
        data = path.read_bytes()
        assert not any(n in data for n in needles), f"a GitHub token is in {path}"
        assert pem_line not in data, f"the App's private key is in {path}"
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            data = environ.read_bytes()
        except (PermissionError, FileNotFoundError, ProcessLookupError):
            continue
        assert not any(n in data for n in needles), f"a GitHub token is in {environ}"
    for route in ("/projects", "/activity", "/workspaces", "/github", "/credentials"):
        answer = json.dumps(site.api(route))
        assert not any(s in answer for s in secrets), route
