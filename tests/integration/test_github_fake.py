"""The fake GitHub (tests/support/github_fake.py) behaves as GitHub does where Corral relies on
it: real git over smart HTTP that wants a live token with the right permissions, the manifest,
JWT and installation-token path, OAuth sign-in, pull requests and signed webhooks. Git runs as
Corral runs it: no terminal prompt, credentials only from a helper.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.github_fake import FakeApp, FakeGitHub, FakeInstallation, fake_github

GIT_TIMEOUT_SECONDS = 30.0


@pytest.fixture
def github(tmp_path: Path) -> Iterator[FakeGitHub]:
    with fake_github(tmp_path / "github") as fake:
        fake.add_user("octo", name="Octo Cat", email="octo@example.com", orgs=["acme"])
        yield fake


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        yield http


def git(
    home: Path, *args: str, token: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """git with no config but the test's, never prompting; `token` through a credential
    helper, as Corral hands it."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_AUTHOR_NAME": "Test Author",
        "GIT_AUTHOR_EMAIL": "author@example.com",
        "GIT_COMMITTER_NAME": "Test Author",
        "GIT_COMMITTER_EMAIL": "author@example.com",
    }
    helper = ["-c", "credential.helper="]
    if token is not None:
        script = f"!f() {{ echo username=x-access-token; echo password={token}; }}; f"
        helper += ["-c", f"credential.helper={script}"]
    return subprocess.run(
        ["git", *helper, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_SECONDS,
        check=False,
    )


def app_jwt(app: FakeApp, *, ahead: int = 540, key: str | None = None) -> str:
    now = int(time.time())
    claims = {"iat": now - 30, "exp": now + ahead, "iss": str(app.id)}
    return jwt.encode(claims, key or app.pem, algorithm="RS256")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}


def make_app(github: FakeGitHub, client: httpx.Client, webhook_url: str) -> FakeApp:
    """THE app through the manifest flow, as Corral's setup page drives it."""
    github.signed_in = "octo"
    manifest = {
        "name": "Corral Test",
        "url": "http://corral.example/",
        "redirect_url": "http://corral.example/setup/github/created",
        "callback_urls": ["http://corral.example/auth/github/callback"],
        "hook_attributes": {"url": webhook_url},
        "default_permissions": {"contents": "write", "pull_requests": "write", "metadata": "read"},
        "default_events": ["pull_request", "check_run"],
    }
    created = client.post(
        f"{github.web_url}/organizations/acme/settings/apps/new",
        params={"state": "st8"},
        data={"manifest": json.dumps(manifest)},
    )
    assert created.status_code == 302, created.text
    location = urlsplit(created.headers["location"])
    assert location.path == "/setup/github/created"
    query = parse_qs(location.query)
    assert query["state"] == ["st8"]
    conversion = client.post(f"{github.api_url}/app-manifests/{query['code'][0]}/conversions")
    assert conversion.status_code == 201, conversion.text
    body = conversion.json()
    assert body["slug"] == "corral-test"
    assert body["owner"]["login"] == "acme"
    assert body["pem"].startswith("-----BEGIN RSA PRIVATE KEY-----")
    assert {"id", "client_id", "client_secret", "webhook_secret", "html_url"} <= set(body)
    again = client.post(f"{github.api_url}/app-manifests/{query['code'][0]}/conversions")
    assert again.status_code == 404
    assert again.json()["message"] == "Not Found"
    assert github.app is not None and github.app.id == body["id"]
    return github.app


def mint(
    github: FakeGitHub, client: httpx.Client, installation: FakeInstallation, **body: Any
) -> str:
    assert github.app is not None
    answer = client.post(
        f"{github.api_url}/app/installations/{installation.id}/access_tokens",
        headers=bearer(app_jwt(github.app)),
        json=body or None,
    )
    assert answer.status_code == 201, answer.text
    token: str = answer.json()["token"]
    assert token.startswith("ghs_")
    return token


def push_branch(home: Path, clone_url: str, token: str, branch: str) -> str:
    """A commit on a new `branch`, pushed; its sha."""
    work = home / f"push-{branch}"
    assert git(home, "clone", "-q", clone_url, str(work), token=token).returncode == 0
    (work / f"{branch}.txt").write_text(f"{branch}\n")
    git(home, "add", ".", cwd=work)
    git(home, "commit", "-qm", branch, cwd=work)
    pushed = git(home, "push", "-q", "origin", f"HEAD:refs/heads/{branch}", token=token, cwd=work)
    assert pushed.returncode == 0, pushed.stderr
    return git(home, "rev-parse", "HEAD", cwd=work).stdout.strip()


def installed(github: FakeGitHub, client: httpx.Client) -> FakeInstallation:
    make_app(github, client, "http://127.0.0.1:9/hook")
    github.add_repo("acme/widgets", files={"README.md": "# widgets\n"})
    return github.install_app("acme", ["widgets"], users=["octo"])


def test_a_private_clone_without_a_working_token_fails_without_prompting(
    github: FakeGitHub, tmp_path: Path
) -> None:
    repo = github.add_repo("acme/widgets")
    anonymous = git(tmp_path, "clone", repo.clone_url, str(tmp_path / "a"))
    assert anonymous.returncode != 0
    assert "terminal prompts disabled" in anonymous.stderr or "Authentication" in anonymous.stderr
    forged = git(tmp_path, "clone", repo.clone_url, str(tmp_path / "b"), token="ghs_forged")
    assert forged.returncode != 0
    assert "Authentication failed" in forged.stderr
    assert [r.auth for r in github.requests if r.status == 401][-1] == "invalid"
    public = github.add_repo("acme/open", private=False)
    assert git(tmp_path, "clone", public.clone_url, str(tmp_path / "c")).returncode == 0


def test_the_manifest_jwt_and_installation_token_path_clones(
    github: FakeGitHub, client: httpx.Client, tmp_path: Path
) -> None:
    installation = installed(github, client)
    app = github.app
    assert app is not None
    me = client.get(f"{github.api_url}/app", headers=bearer(app_jwt(app)))
    assert me.status_code == 200 and me.json()["slug"] == "corral-test"
    assert me.headers["X-RateLimit-Remaining"].isdigit()
    listed = client.get(f"{github.api_url}/app/installations", headers=bearer(app_jwt(app)))
    assert [i["id"] for i in listed.json()] == [installation.id]
    assert listed.json()[0]["account"] == {**listed.json()[0]["account"], "login": "acme"}
    found = client.get(
        f"{github.api_url}/repos/acme/widgets/installation", headers=bearer(app_jwt(app))
    )
    assert found.json()["id"] == installation.id

    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged_pem = other_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    for bad in (app_jwt(app, key=forged_pem), app_jwt(app, ahead=3600), app_jwt(app, ahead=-120)):
        refused = client.get(f"{github.api_url}/app", headers=bearer(bad))
        assert refused.status_code == 401, bad
        assert refused.json()["documentation_url"]

    token = mint(github, client, installation)
    cloned = git(tmp_path, "clone", github.repo("acme/widgets").clone_url, str(tmp_path / "w"))
    assert cloned.returncode != 0
    cloned = git(
        tmp_path,
        "clone",
        github.repo("acme/widgets").clone_url,
        str(tmp_path / "w"),
        token=token,
    )
    assert cloned.returncode == 0, cloned.stderr
    assert (tmp_path / "w" / "README.md").read_text() == "# widgets\n"

    refused = client.post(
        f"{github.api_url}/app/installations/{installation.id}/access_tokens",
        headers=bearer(app_jwt(app)),
        json={"repositories": ["not-installed"]},
    )
    assert refused.status_code == 422


def test_a_push_needs_contents_write_and_lands_in_the_bare_repository(
    github: FakeGitHub, client: httpx.Client, tmp_path: Path
) -> None:
    installation = installed(github, client)
    repo = github.repo("acme/widgets")
    writer = mint(github, client, installation)
    reader = mint(github, client, installation, permissions={"contents": "read"})
    work = tmp_path / "work"
    assert git(tmp_path, "clone", repo.clone_url, str(work), token=reader).returncode == 0
    (work / "change.txt").write_text("hello\n")
    assert git(tmp_path, "add", ".", cwd=work).returncode == 0
    assert git(tmp_path, "commit", "-qm", "change", cwd=work).returncode == 0

    refused = git(tmp_path, "push", "origin", "HEAD:refs/heads/feature", token=reader, cwd=work)
    assert refused.returncode != 0
    assert "403" in refused.stderr
    assert repo.branch_head("feature") is None

    pushed = git(tmp_path, "push", "origin", "HEAD:refs/heads/feature", token=writer, cwd=work)
    assert pushed.returncode == 0, pushed.stderr
    head = git(tmp_path, "rev-parse", "HEAD", cwd=work).stdout.strip()
    assert repo.branch_head("feature") == head
    assert repo.read_file("feature", "change.txt") == "hello\n"
    [push] = github.pushes
    assert (push.repo, push.auth) == ("acme/widgets", "installation")
    assert push.refs == {"refs/heads/feature": (None, head)}

    no_contents = mint(github, client, installation, permissions={"pull_requests": "write"})
    assert git(tmp_path, "ls-remote", repo.clone_url, token=no_contents).returncode != 0

    elsewhere = github.add_repo("acme/other")
    github.install_app("acme", ["acme/widgets", "acme/other"], users=["octo"])
    narrowed = mint(github, client, github.installations[-1], repositories=["other"])
    outside = git(tmp_path, "push", "origin", "HEAD:refs/heads/x", token=narrowed, cwd=work)
    assert outside.returncode != 0
    assert "not found" in outside.stderr
    assert elsewhere.branch_head("main") is not None


def test_revoked_and_expired_tokens_stop_working(
    github: FakeGitHub, client: httpx.Client, tmp_path: Path
) -> None:
    installation = installed(github, client)
    repo = github.repo("acme/widgets")
    first, second = mint(github, client, installation), mint(github, client, installation)
    assert client.get(f"{github.api_url}/repos/acme/widgets", headers=bearer(first)).is_success
    revoked = client.delete(f"{github.api_url}/installation/token", headers=bearer(first))
    assert revoked.status_code == 204
    gone = client.get(f"{github.api_url}/repos/acme/widgets", headers=bearer(first))
    assert (gone.status_code, gone.json()["message"]) == (401, "Bad credentials")
    assert git(tmp_path, "ls-remote", repo.clone_url, token=first).returncode != 0

    assert git(tmp_path, "ls-remote", repo.clone_url, token=second).returncode == 0
    github.expire_installation_tokens()
    assert git(tmp_path, "ls-remote", repo.clone_url, token=second).returncode != 0
    assert (
        git(
            tmp_path, "ls-remote", repo.clone_url, token=mint(github, client, installation)
        ).returncode
        == 0
    )

    personal = github.add_personal_token("octo", ["acme/widgets"])
    assert personal.startswith("github_pat_")
    assert git(tmp_path, "ls-remote", repo.clone_url, token=personal).returncode == 0
    github.revoke(personal)
    assert git(tmp_path, "ls-remote", repo.clone_url, token=personal).returncode != 0


def test_oauth_sign_in_redirects_with_a_one_time_code(
    github: FakeGitHub, client: httpx.Client
) -> None:
    app = make_app(github, client, "http://127.0.0.1:9/hook")
    callback = "http://corral.example/auth/github/callback"
    authorize = f"{github.web_url}/login/oauth/authorize"
    params = {"client_id": app.client_id, "redirect_uri": callback, "state": "xyz"}
    github.signed_in = None
    assert client.get(authorize, params=params).status_code == 403
    github.signed_in = "octo"
    redirected = client.get(authorize, params=params)
    assert redirected.status_code == 302
    location = urlsplit(redirected.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == callback
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]

    exchange = {"client_id": app.client_id, "client_secret": app.client_secret}
    url = f"{github.web_url}/login/oauth/access_token"
    accept = {"Accept": "application/json"}
    tokens = client.post(url, data={**exchange, "code": query["code"][0]}, headers=accept).json()
    assert tokens["access_token"].startswith("ghu_") and tokens["token_type"] == "bearer"
    assert tokens["expires_in"] == 28800 and tokens["refresh_token"].startswith("ghr_")
    reused = client.post(url, data={**exchange, "code": query["code"][0]}, headers=accept)
    assert (reused.status_code, reused.json()["error"]) == (200, "bad_verification_code")

    user = client.get(f"{github.api_url}/user", headers=bearer(tokens["access_token"])).json()
    assert (user["login"], user["name"], user["type"]) == ("octo", "Octo Cat", "User")
    orgs = client.get(f"{github.api_url}/user/orgs", headers=bearer(tokens["access_token"]))
    assert [org["login"] for org in orgs.json()] == ["acme"]
    github.add_repo("acme/widgets")
    installation = github.install_app("acme", ["widgets"], users=["octo"])
    mine = client.get(
        f"{github.api_url}/user/installations", headers=bearer(tokens["access_token"])
    ).json()
    assert mine["total_count"] == 1 and mine["installations"][0]["id"] == installation.id

    github.expire_user_tokens()
    expired = client.get(f"{github.api_url}/user", headers=bearer(tokens["access_token"]))
    assert expired.status_code == 401
    refresh = {**exchange, "grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]}
    renewed = client.post(url, json=refresh, headers=accept).json()
    assert renewed["access_token"].startswith("ghu_")
    assert client.get(f"{github.api_url}/user", headers=bearer(renewed["access_token"])).is_success
    spent = client.post(url, json=refresh, headers=accept).json()
    assert spent["error"] == "bad_refresh_token"

    github.add_oauth_app("oauth-client", "oauth-secret")
    redirected = client.get(authorize, params={**params, "client_id": "oauth-client"})
    code = parse_qs(urlsplit(redirected.headers["location"]).query)["code"][0]
    form = {"client_id": "oauth-client", "client_secret": "oauth-secret", "code": code}
    classic = client.post(url, data=form, headers=accept).json()
    assert classic["access_token"].startswith("gho_") and "expires_in" not in classic


def test_pull_requests_open_once_per_branch(
    github: FakeGitHub, client: httpx.Client, tmp_path: Path
) -> None:
    installation = installed(github, client)
    repo = github.repo("acme/widgets")
    token = mint(github, client, installation)
    push_branch(tmp_path, repo.clone_url, token, "feature")

    pulls = f"{github.api_url}/repos/acme/widgets/pulls"
    body = {
        "title": "Add feature",
        "head": "feature",
        "base": "main",
        "body": "Why.",
        "draft": True,
    }
    created = client.post(pulls, headers=bearer(token), json=body)
    assert created.status_code == 201, created.text
    pull = created.json()
    assert pull["number"] == 1 and pull["state"] == "open" and pull["draft"] is True
    assert pull["html_url"] == f"{github.web_url}/acme/widgets/pull/1"
    assert pull["head"]["sha"] == repo.branch_head("feature")
    assert pull["user"]["login"] == "corral-test[bot]"

    duplicate = client.post(pulls, headers=bearer(token), json={**body, "head": "acme:feature"})
    assert duplicate.status_code == 422
    assert duplicate.json()["errors"][0]["message"] == (
        "A pull request already exists for acme:feature."
    )
    missing = client.post(pulls, headers=bearer(token), json={**body, "head": "nope"})
    assert (missing.status_code, missing.json()["message"]) == (422, "Validation Failed")
    reader = mint(github, client, installation, permissions={"pull_requests": "read"})
    denied = client.post(pulls, headers=bearer(reader), json={**body, "head": "other"})
    assert denied.status_code == 403

    same = client.post(pulls, headers=bearer(token), json={**body, "head": "main"})
    assert same.json()["errors"][0]["message"] == "No commits between main and main"

    listed = client.get(pulls, params={"head": "acme:feature"}, headers=bearer(token)).json()
    assert [p["number"] for p in listed] == [1]
    # As GitHub does, a head without its owner filters nothing.
    bare = client.get(pulls, params={"head": "elsewhere"}, headers=bearer(token)).json()
    assert [p["number"] for p in bare] == [1]
    patched = client.patch(f"{pulls}/1", headers=bearer(token), json={"title": "Better"})
    assert patched.json()["title"] == "Better"
    assert [(p.number, p.title, p.head, p.base) for p in github.pulls] == [
        (1, "Better", "feature", "main")
    ]


class _Receiver(BaseHTTPRequestHandler):
    got: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.got.append((dict(self.headers), body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    got: list[tuple[dict[str, str], bytes]] = []
    handler = type("Receiver", (_Receiver,), {"got": got})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver")
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/github", got
    finally:
        server.shutdown()
        thread.join(10)
        server.server_close()


def test_webhooks_are_signed_with_the_app_secret(
    github: FakeGitHub,
    client: httpx.Client,
    receiver: tuple[str, list[tuple[dict[str, str], bytes]]],
    tmp_path: Path,
) -> None:
    url, got = receiver
    app = make_app(github, client, url)
    assert app.webhook_url == url
    repo = github.add_repo("acme/widgets")
    installation = github.install_app("acme", ["widgets"], users=["octo"])
    token = mint(github, client, installation)
    push_branch(tmp_path, repo.clone_url, token, "feature")
    body = {"title": "T", "head": "feature", "base": "main"}
    pulls = f"{github.api_url}/repos/acme/widgets/pulls"
    assert client.post(pulls, headers=bearer(token), json=body).status_code == 201

    assert github.send_webhook("ping", {"zen": "Keep it logically awesome."}) == 200
    headers, raw = got[-1]
    expected = hmac.new(app.webhook_secret.encode(), raw, hashlib.sha256).hexdigest()
    assert headers["X-Hub-Signature-256"] == f"sha256={expected}" == github.sign(raw)
    assert headers["X-GitHub-Event"] == "ping" and headers["X-GitHub-Delivery"]

    assert github.request_review(1, "octo") == 200
    event = json.loads(got[-1][1])
    assert (event["action"], event["requested_reviewer"]["login"]) == ("review_requested", "octo")
    assert github.fail_check(1) == 200
    event = json.loads(got[-1][1])
    run = event["check_run"]
    assert (got[-1][0]["X-GitHub-Event"], run["conclusion"]) == ("check_run", "failure")
    assert run["pull_requests"][0]["number"] == 1 and run["head_sha"] == repo.branch_head("feature")
    assert github.merge_pull(1) == 200
    event = json.loads(got[-1][1])
    assert (event["action"], event["number"]) == ("closed", 1)
    assert event["pull_request"]["merged"] is True and event["pull_request"]["state"] == "closed"
    assert event["pull_request"]["head"]["ref"] == "feature"
    assert event["repository"]["full_name"] == "acme/widgets"
    assert event["installation"]["id"] == installation.id
    assert github.pulls[0].merged


def test_injected_failures_and_unknown_routes_answer_as_github(
    github: FakeGitHub, client: httpx.Client
) -> None:
    github.fail_next("GET", "/api/v3/repos/*", status=502)
    public = github.add_repo("acme/open", private=False)
    failed = client.get(f"{github.api_url}/repos/{public.full_name}")
    assert failed.status_code == 502 and "message" in failed.json()
    again = client.get(f"{github.api_url}/repos/{public.full_name}")
    assert again.status_code == 200 and again.json()["private"] is False
    unknown = client.get(f"{github.api_url}/nothing/here")
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Not Found"
    assert "X-RateLimit-Remaining" in unknown.headers
    assert [(r.method, r.path, r.status) for r in github.requests][-1] == (
        "GET",
        "/api/v3/nothing/here",
        404,
    )
