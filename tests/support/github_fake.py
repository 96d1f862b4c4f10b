"""A fake GitHub on 127.0.0.1 (or on a listening socket a test hands it), for the tests of
Corral's GitHub integration: sign-in with OAuth, a GitHub App made through the app-manifest
flow, installation access tokens, branches pushed over real git smart-HTTP, pull requests opened
through the REST API, and webhooks.

    with fake_github(tmp_path / "github") as github:
        github.add_user("octo", orgs=["acme"])
        github.signed_in = "octo"
        repo = github.add_repo("acme/widgets")
        ...  # Corral creates its App from a manifest: `github.app` is set
        github.install_app("acme", ["acme/widgets"], users=["octo"])

One server, one port, serves the web side and the API, as GitHub Enterprise Server does:
`web_url` (`http://127.0.0.1:PORT`, or the given socket's address) and `api_url` (`web_url +
"/api/v3"`). Everything is in GitHub's wire shapes (REST JSON as GitHub documents it, its
error bodies `{"message", "documentation_url"}`, OAuth's `error` answers with status 200),
because the point is to catch the product reading a field GitHub does not send, or sending what
GitHub refuses.

The web side: `/login/oauth/authorize` approves at once as `signed_in` (403 when nobody is
signed in) and redirects with a one-time code; `/login/oauth/access_token` exchanges it (and
refresh tokens) for a user token: `ghu_` with an 8-hour expiry and a `ghr_` refresh token for
the App, `gho_` without expiry for an OAuth app registered with `add_oauth_app`. A manifest
POSTed to `/settings/apps/new` or `/organizations/ORG/settings/apps/new` is recorded and the
browser redirected to its `redirect_url` with a code, which `POST
/api/v3/app-manifests/CODE/conversions` turns into THE app (`app`: its id, secrets and an RSA
key made here). `create_app` does the same without the browser, for tests about later steps.

Git: `/OWNER/REPO.git/...` runs the real `git http-backend` as CGI over bare repositories under
`base`. A private repository wants HTTP basic auth whose password is a live token reaching it:
an installation token (any user name; `x-access-token` by convention), a personal token
(`add_personal_token`) or a user token; none or a dead one is a 401 with `WWW-Authenticate`,
so git asks its credential helper, as with GitHub. A live token that does not reach the
repository gets 404, a push without `contents: write` 403, as GitHub answers. Public
repositories are readable anonymously. Every push that changes refs is in `pushes`.

Tokens: installation tokens (`ghs_`, from `POST /app/installations/ID/access_tokens` with the
app's JWT, verified with PyJWT against the app's key) last an hour; `expire_installation_tokens`
and `expire_user_tokens` age them all at once, and `revoke` kills any token. An installation
token minted with `permissions` (or, without, holding the app's manifest `default_permissions`)
is held to them: `contents: read` to fetch a private repository, `contents: write` to push
(otherwise git gets 403), `pull_requests: write` to open a pull request (otherwise 403
"Resource not accessible by integration"); one minted with `repositories` or `repository_ids`
reaches only those.

Pull requests are numbered per repository; `merge_pull`, `close_pull`, `fail_check` and
`request_review` change them and deliver the webhook GitHub would, signed with the app's
webhook secret, to the manifest's `hook_attributes.url`. Deliveries are synchronous: from a test
whose event loop runs the receiver, call them through `asyncio.to_thread`. Merging does not
touch the bare repository.

Failures: `fail_next(method, path_pattern, status=500, count=1)` makes the next `count`
requests whose path (the whole path, e.g. "/api/v3/repos/*/pulls" or "/login/oauth/*")
matches answer `status` with GitHub's error body. `requests` has every request (method, path,
status, what kind of credential it carried; never a token), `pulls`, `pushes` and `deliveries`
what happened. Everything is stopped when the context manager exits: the server thread is
joined and every git process it started has been reaped (killed by PID if it outlived its
request).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import copy
import fnmatch
import hashlib
import hmac
import itertools
import json
import re
import secrets
import socket
import string
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx
import jwt
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.github_git import http_backend, init_bare, read_refs, run_git, run_git_async
from tests.support.waits import eventually_sync

__all__ = [
    "FakeApp",
    "FakeGitHub",
    "FakeInstallation",
    "FakeOAuthApp",
    "FakePull",
    "FakePush",
    "FakeRepo",
    "FakeUser",
    "RecordedRequest",
    "WebhookDelivery",
    "fake_github",
]

API_PREFIX = "/api/v3"
GITHUB_ED25519_HOST_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"
)
"""github.com's published Ed25519 host key, which the fake publishes too."""
DOCS = "https://docs.github.com/rest"
OAUTH_ERRORS = "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors"
START_SECONDS = 30.0
STOP_SECONDS = 30.0
WEBHOOK_TIMEOUT_SECONDS = 10.0
RATE_LIMIT = 5000
INSTALLATION_TOKEN_SECONDS = 3600
USER_TOKEN_SECONDS = 28800
REFRESH_TOKEN_SECONDS = 15811200
CODE_SECONDS = 600
JWT_MAX_SECONDS = 600
"""GitHub refuses an app JWT whose `exp` is more than ten minutes ahead."""
JWT_LEEWAY_SECONDS = 10
_METHODS = ["GET", "POST", "PATCH", "PUT", "DELETE"]
_LEVELS = {"none": 0, "read": 1, "write": 2, "admin": 3}
_ALPHANUMERIC = string.ascii_letters + string.digits
_NOT_INTEGRATION = "Resource not accessible by integration"
_BAD_JWT = "A JSON web token could not be decoded"
_REDIRECT_MISMATCH = "The redirect_uri MUST match the registered callback URL for this application."
_EXPIRED_JWT = (
    "'Expiration time' claim ('exp') must be a numeric value representing the future time at "
    "which the assertion expires"
)


# -- what it holds -----------------------------------------------------------------------------


@dataclass
class FakeUser:
    id: int
    login: str
    name: str | None
    email: str | None
    orgs: list[str]


@dataclass
class FakeRepo:
    """A repository: a real bare git repository at `path`."""

    id: int
    full_name: str
    private: bool
    default_branch: str
    path: Path
    web_url: str
    home: Path = field(repr=False)

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.full_name.split("/", 1)[1]

    @property
    def clone_url(self) -> str:
        return f"{self.web_url}/{self.full_name}.git"

    @property
    def html_url(self) -> str:
        return f"{self.web_url}/{self.full_name}"

    def branch_head(self, branch: str) -> str | None:
        """The sha `branch` points at in the bare repository, None when there is no such
        branch."""
        sha = run_git(
            self.home,
            "rev-parse",
            "--verify",
            "-q",
            f"refs/heads/{branch}^{{commit}}",
            cwd=self.path,
            check=False,
        )
        return sha or None

    def read_file(self, branch: str, path: str) -> str:
        """A file's content on `branch` (what a push delivered)."""
        return run_git(self.home, "show", f"refs/heads/{branch}:{path}", cwd=self.path, raw=True)


@dataclass
class FakeApp:
    """THE GitHub App, as manifest conversion (or `create_app`) made it."""

    id: int
    slug: str
    name: str
    node_id: str
    owner: str
    client_id: str
    client_secret: str
    webhook_secret: str
    pem: str
    """Its RSA private key (PKCS#1 PEM, as GitHub hands it out), to sign JWTs with."""
    manifest: dict[str, Any]
    webhook_url: str | None
    permissions: dict[str, str]
    events: list[str]
    callback_urls: list[str]
    created_at: str
    public_key: rsa.RSAPublicKey = field(repr=False)


@dataclass
class FakeOAuthApp:
    """An OAuth app the owner registered in GitHub's settings (`add_oauth_app`)."""

    client_id: str
    client_secret: str
    callback_url: str | None = None


@dataclass
class FakeInstallation:
    """An installation of THE app on `account`: it reaches `repos` (full names), and `users`
    (logins) see it among their installations."""

    id: int
    app_id: int
    account: str
    account_type: str
    repos: list[str]
    users: list[str]
    created_at: str


@dataclass
class FakePull:
    id: int
    number: int
    repo: str
    title: str
    body: str | None
    head: str
    base: str
    draft: bool
    state: str
    merged: bool
    html_url: str
    head_sha: str
    author: str
    created_at: str
    requested_reviewers: list[str] = field(default_factory=list)


@dataclass
class FakePush:
    """A push over git-receive-pack that changed refs: `refs` maps each changed ref to its
    (old, new) sha, None for a ref made or deleted."""

    repo: str
    auth: str
    """The kind of credential: "installation", "pat", "user" (an App's user token) or
    "oauth" (an OAuth app's)."""
    login: str | None
    refs: dict[str, tuple[str | None, str | None]]


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: str
    auth: str | None = None
    """What kind of credential it carried: "jwt", "installation", "pat", "user", "oauth",
    "invalid" (one that does not work), or None."""
    status: int | None = None


@dataclass
class WebhookDelivery:
    event: str
    guid: str
    payload: dict[str, Any]
    status: int
    """The receiver's HTTP status, 0 when nothing answered."""


@dataclass
class _Token:
    value: str
    kind: str
    login: str | None = None
    installation_id: int | None = None
    repos: frozenset[str] | None = None
    permissions: dict[str, str] | None = None
    expires_at: float | None = None
    revoked: bool = False
    client_id: str | None = None

    def live(self) -> bool:
        return not self.revoked and (self.expires_at is None or self.expires_at > time.time())


@dataclass(frozen=True)
class _Principal:
    kind: str
    token: _Token | None = None
    login: str | None = None


@dataclass
class _Grant:
    """A one-time code: an OAuth authorization, or a manifest waiting for conversion."""

    client_id: str
    login: str
    redirect_uri: str | None
    scope: str
    expires_at: float
    manifest: dict[str, Any] | None = None


@dataclass
class _Injection:
    method: str
    pattern: str
    remaining: int
    status: int
    message: str


class HttpError(Exception):
    """An error answer: GitHub's JSON error body on the API, text on git and web pages."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def json(self) -> Response:
        body: dict[str, Any] = {"message": self.message, "documentation_url": DOCS}
        if self.errors is not None:
            body["errors"] = self.errors
        body["status"] = str(self.status)
        response = _json(self.status, body)
        response.headers.update(self.headers)
        return response

    def text(self) -> Response:
        response = Response(self.message + "\n", self.status, media_type="text/plain")
        response.headers.update(self.headers)
        return response


def _validation(message: str | None = None, **error: Any) -> HttpError:
    """GitHub's 422: "Validation Failed" and what failed."""
    if message is not None:
        error = {"resource": "PullRequest", "code": "custom", "message": message, **error}
    return HttpError(422, "Validation Failed", errors=[error])


_Who = _Principal | None
_Match = re.Match[str]
_Handler = Callable[[Request, _Who, _Match], Awaitable[Response]]


# -- the fake ----------------------------------------------------------------------------------


class FakeGitHub:
    """The fake; `start` and `stop` are synchronous and bounded, and every method may be called
    from any thread (the server runs in a thread of its own)."""

    def __init__(self, base: Path, *, listen: socket.socket | None = None) -> None:
        """`listen`: a listening socket to serve on (one inside a network namespace standing in
        for the internet, tests/support/netns.py); None: a new one on 127.0.0.1."""
        self.base = base
        self.repos_root = base / "repos"
        self.host = "127.0.0.1"
        self.port = 0
        self.signed_in: str | None = None
        """The login signed in to GitHub in the browser: OAuth authorization and app
        creation act as this user, at once."""
        self.app: FakeApp | None = None
        self._lock = threading.Lock()
        self._ids = itertools.count(1001)
        self._users: dict[str, FakeUser] = {}
        self._orgs: dict[str, int] = {}
        self._repos: dict[str, FakeRepo] = {}
        self._installations: dict[int, FakeInstallation] = {}
        self._oauth_apps: dict[str, FakeOAuthApp] = {}
        self._tokens: dict[str, _Token] = {}
        self._refresh_tokens: dict[str, _Token] = {}
        self._codes: dict[str, _Grant] = {}
        self._manifest_codes: dict[str, _Grant] = {}
        self._pulls: list[FakePull] = []
        self._pushes: list[FakePush] = []
        self._requests: list[RecordedRequest] = []
        self._deliveries: list[WebhookDelivery] = []
        self._injections: list[_Injection] = []
        self._push_locks: dict[str, asyncio.Lock] = {}
        self._api_calls = 0
        self.ssh_host_keys = [GITHUB_ED25519_HOST_KEY]
        """What `GET /meta` publishes as `ssh_keys`."""
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = [
            (method, re.compile(pattern), handler)
            for method, pattern, handler in [
                ("GET", r"/meta", self._get_meta),
                ("GET", r"/user", self._get_user),
                ("GET", r"/user/orgs", self._get_user_orgs),
                ("GET", r"/user/installations", self._get_user_installations),
                ("GET", r"/user/installations/(\d+)/repositories", self._get_user_inst_repos),
                ("POST", r"/app-manifests/([^/]+)/conversions", self._convert_manifest),
                ("GET", r"/app", self._get_app),
                ("GET", r"/app/installations", self._get_app_installations),
                ("GET", r"/app/installations/(\d+)", self._get_app_installation),
                ("POST", r"/app/installations/(\d+)/access_tokens", self._mint_token),
                ("GET", r"/repos/([^/]+)/([^/]+)/installation", self._get_repo_installation),
                ("DELETE", r"/installation/token", self._delete_installation_token),
                ("GET", r"/installation/repositories", self._get_installation_repos),
                ("GET", r"/repos/([^/]+)/([^/]+)", self._get_repo),
                ("POST", r"/repos/([^/]+)/([^/]+)/pulls", self._create_pull),
                ("GET", r"/repos/([^/]+)/([^/]+)/pulls", self._list_pulls),
                ("GET", r"/repos/([^/]+)/([^/]+)/pulls/(\d+)", self._get_pull),
                ("PATCH", r"/repos/([^/]+)/([^/]+)/pulls/(\d+)", self._update_pull),
            ]
        ]
        self._socket: socket.socket | None = listen
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    @property
    def web_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.web_url}{API_PREFIX}"

    def start(self) -> FakeGitHub:
        self.repos_root.mkdir(parents=True, exist_ok=True)
        if self._socket is None:
            self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind(("127.0.0.1", 0))
        self.host, self.port = self._socket.getsockname()[:2]
        app = Starlette(routes=[Route("/{path:path}", self._endpoint, methods=_METHODS)])
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            http="h11",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        server, listening = self._server, self._socket
        self._thread = threading.Thread(
            target=lambda: asyncio.run(server.serve(sockets=[listening])),
            name="fake-github",
            daemon=True,
        )
        self._thread.start()
        thread = self._thread

        def started() -> bool:
            if not thread.is_alive():
                raise RuntimeError("the fake GitHub exited while starting")
            return server.started

        try:
            eventually_sync(started, "the fake GitHub started", wait_seconds=START_SECONDS)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server and join its thread. Git processes are reaped by the requests that
        started them, which uvicorn lets finish (or cancels) before its loop ends."""
        thread, server = self._thread, self._server
        if thread is not None and server is not None:
            server.should_exit = True
            thread.join(STOP_SECONDS)
            if thread.is_alive():
                server.force_exit = True
                thread.join(STOP_SECONDS)
        if self._socket is not None:
            self._socket.close()
        self._thread = None
        if thread is not None and thread.is_alive():
            raise RuntimeError("the fake GitHub did not stop in time")

    # -- setting it up ---------------------------------------------------------------------------

    def add_user(
        self,
        login: str,
        *,
        name: str | None = None,
        email: str | None = None,
        orgs: Sequence[str] = (),
    ) -> FakeUser:
        with self._lock:
            user = FakeUser(next(self._ids), login, name, email, list(orgs))
            self._users[login.lower()] = user
            for org in orgs:
                self._org_id(org)
        return user

    def add_repo(
        self,
        full_name: str,
        *,
        private: bool = True,
        default_branch: str = "main",
        files: dict[str, str] | None = None,
    ) -> FakeRepo:
        """A repository with one commit on `default_branch` holding `files` (a README.md when
        none are given). An owner that is not a user is an organization."""
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"not an owner/name: {full_name!r}")
        path = self.repos_root / owner / f"{name}.git"
        init_bare(self.base, path, default_branch, files or {"README.md": f"# {name}\n"})
        with self._lock:
            if owner.lower() not in self._users:
                self._org_id(owner)
            repo = FakeRepo(
                next(self._ids), full_name, private, default_branch, path, self.web_url, self.base
            )
            self._repos[full_name.lower()] = repo
        return repo

    def repo(self, full_name: str) -> FakeRepo:
        return self._repos[full_name.lower()]

    def add_oauth_app(
        self, client_id: str, client_secret: str, *, callback_url: str | None = None
    ) -> FakeOAuthApp:
        """An OAuth app (rather than the GitHub App) for signing in; `callback_url`, when
        given, is checked against `redirect_uri` as GitHub does."""
        oauth = FakeOAuthApp(client_id, client_secret, callback_url)
        with self._lock:
            self._oauth_apps[client_id] = oauth
        return oauth

    def create_app(
        self,
        name: str = "Corral",
        *,
        owner: str | None = None,
        webhook_url: str | None = None,
        callback_urls: Sequence[str] = (),
        permissions: dict[str, str] | None = None,
        events: Sequence[str] = (),
    ) -> FakeApp:
        """THE app, as if a manifest had been converted, for tests that start after that."""
        manifest: dict[str, Any] = {
            "name": name,
            "url": "http://127.0.0.1/",
            "callback_urls": list(callback_urls),
            "default_permissions": dict(permissions or {}),
            "default_events": list(events),
        }
        if webhook_url is not None:
            manifest["hook_attributes"] = {"url": webhook_url}
        return self._make_app(manifest, owner or self.signed_in or "octocat")

    def install_app(
        self,
        account: str,
        repos: Sequence[str],
        *,
        users: Sequence[str],
    ) -> FakeInstallation:
        """An installation of THE app on `account` reaching `repos` (full names, or names in
        `account`), seen by `users`."""
        app = self.app
        if app is None:
            raise RuntimeError("no app yet: convert a manifest (or call create_app) first")
        full_names = [name if "/" in name else f"{account}/{name}" for name in repos]
        for name in full_names:
            if name.lower() not in self._repos:
                raise KeyError(f"no repository {name}")
        with self._lock:
            kind = "User" if account.lower() in self._users else "Organization"
            if kind == "Organization":
                self._org_id(account)
            installation = FakeInstallation(
                next(self._ids), app.id, account, kind, full_names, list(users), _iso(time.time())
            )
            self._installations[installation.id] = installation
        return installation

    def add_personal_token(self, login: str, repos: Sequence[str]) -> str:
        """A fine-grained personal access token of `login`, reading and writing `repos`."""
        value = "github_pat_" + _random(22) + "_" + _random(59)
        grant = frozenset(name.lower() for name in repos)
        with self._lock:
            self._tokens[value] = _Token(value, "pat", login=login, repos=grant)
        return value

    def issue_user_token(self, login: str) -> str:
        """A user token of THE app for `login`, as the OAuth flow would give (`ghu_`)."""
        app = self.app
        if app is None:
            raise RuntimeError("no app yet")
        return str(self._user_token(app.client_id, login, "")["access_token"])

    def revoke(self, token: str) -> None:
        """Any token (installation, personal, OAuth, refresh) stops working."""
        with self._lock:
            if token in self._tokens:
                self._tokens[token].revoked = True
            self._refresh_tokens.pop(token, None)

    def issued_tokens(self, kind: str | None = None) -> list[str]:
        """Every token issued so far ("installation", "pat", "user", "oauth"; None: all, with
        refresh tokens), for tests that look for them where they must never be."""
        with self._lock:
            found = [t.value for t in self._tokens.values() if kind is None or t.kind == kind]
            if kind is None:
                found += list(self._refresh_tokens)
            return found

    def expire_installation_tokens(self) -> None:
        """Every installation token issued so far is past its expiry."""
        self._expire("installation")

    def expire_user_tokens(self) -> None:
        """Every user token (`ghu_`) issued so far is past its expiry; refresh tokens live on."""
        self._expire("user")

    def _expire(self, kind: str) -> None:
        with self._lock:
            for token in self._tokens.values():
                if token.kind == kind:
                    token.expires_at = time.time() - 1

    def fail_next(
        self,
        method: str,
        path_pattern: str,
        status: int = 500,
        count: int = 1,
        *,
        message: str = "Server Error",
    ) -> None:
        """The next `count` requests of `method` ("*" for any) whose whole path matches the
        fnmatch `path_pattern` answer `status`, with GitHub's error body."""
        with self._lock:
            self._injections.append(
                _Injection(method.upper(), path_pattern, count, status, message)
            )

    # -- what happened ---------------------------------------------------------------------------

    @property
    def pulls(self) -> list[FakePull]:
        with self._lock:
            return [copy.deepcopy(pull) for pull in self._pulls]

    @property
    def pushes(self) -> list[FakePush]:
        with self._lock:
            return [copy.deepcopy(push) for push in self._pushes]

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [copy.copy(request) for request in self._requests]

    @property
    def deliveries(self) -> list[WebhookDelivery]:
        with self._lock:
            return [copy.deepcopy(delivery) for delivery in self._deliveries]

    @property
    def installations(self) -> list[FakeInstallation]:
        with self._lock:
            return list(self._installations.values())

    # -- webhooks --------------------------------------------------------------------------------

    def sign(self, body: bytes) -> str:
        """The `X-Hub-Signature-256` of `body` with the app's webhook secret."""
        if self.app is None:
            raise RuntimeError("no app yet")
        digest = hmac.new(self.app.webhook_secret.encode(), body, hashlib.sha256).hexdigest()
        return f"sha256={digest}"

    def send_webhook(self, event: str, payload: dict[str, Any]) -> int:
        """Deliver `event` to the app's webhook URL as GitHub does (blocking); the receiver's
        status, 0 when nothing answered."""
        app = self.app
        if app is None or not app.webhook_url:
            raise RuntimeError("the app has no webhook URL (manifest hook_attributes.url)")
        body = json.dumps(payload).encode()
        guid = str(uuid.uuid4())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "GitHub-Hookshot/fake",
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": guid,
            "X-GitHub-Hook-ID": str(app.id + 1),
            "X-GitHub-Hook-Installation-Target-ID": str(app.id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
            "X-Hub-Signature": "sha1="
            + hmac.new(app.webhook_secret.encode(), body, hashlib.sha1).hexdigest(),
            "X-Hub-Signature-256": self.sign(body),
        }
        try:
            with httpx.Client(timeout=WEBHOOK_TIMEOUT_SECONDS) as client:
                status = client.post(app.webhook_url, content=body, headers=headers).status_code
        except httpx.HTTPError:
            status = 0
        with self._lock:
            self._deliveries.append(WebhookDelivery(event, guid, payload, status))
        return status

    def merge_pull(self, number: int, *, repo: str | None = None) -> int:
        """Merge the pull request (state only) and deliver `pull_request` "closed", merged."""
        pull = self._set_pull(number, repo, state="closed", merged=True)
        return self.send_webhook("pull_request", self._pull_event("closed", pull))

    def close_pull(self, number: int, *, repo: str | None = None) -> int:
        """Close it unmerged and deliver `pull_request` "closed"."""
        pull = self._set_pull(number, repo, state="closed", merged=False)
        return self.send_webhook("pull_request", self._pull_event("closed", pull))

    def request_review(self, number: int, reviewer_login: str, *, repo: str | None = None) -> int:
        """Deliver `pull_request` "review_requested" for `reviewer_login`."""
        with self._lock:
            pull = self._find_pull(number, repo)
            if reviewer_login not in pull.requested_reviewers:
                pull.requested_reviewers.append(reviewer_login)
            pull = copy.deepcopy(pull)
        payload = self._pull_event("review_requested", pull)
        payload["requested_reviewer"] = self._account_json(reviewer_login)
        return self.send_webhook("pull_request", payload)

    def fail_check(
        self,
        number: int,
        name: str = "ci",
        *,
        repo: str | None = None,
        summary: str = "1 test failed.",
    ) -> int:
        """Deliver `check_run` "completed" with conclusion "failure" on the pull's head."""
        with self._lock:
            pull = copy.deepcopy(self._find_pull(number, repo))
        fake_repo = self._repos[pull.repo.lower()]
        run_id = next(self._ids)
        now = _iso(time.time())
        check_run = {
            "id": run_id,
            "node_id": _node_id("CR", run_id),
            "name": name,
            "head_sha": pull.head_sha,
            "status": "completed",
            "conclusion": "failure",
            "started_at": now,
            "completed_at": now,
            "html_url": f"{fake_repo.html_url}/runs/{run_id}",
            "details_url": f"{fake_repo.html_url}/runs/{run_id}",
            "url": f"{self.api_url}/repos/{pull.repo}/check-runs/{run_id}",
            "output": {"title": f"{name} failed", "summary": summary, "text": None},
            "check_suite": {"id": run_id + 1, "head_branch": pull.head, "head_sha": pull.head_sha},
            "app": self._app_json(public=True) if self.app else None,
            "pull_requests": [
                {
                    "id": pull.id,
                    "number": pull.number,
                    "url": f"{self.api_url}/repos/{pull.repo}/pulls/{pull.number}",
                    "head": {
                        "ref": pull.head,
                        "sha": pull.head_sha,
                        "repo": _repo_ref(fake_repo, self.api_url),
                    },
                    "base": {
                        "ref": pull.base,
                        "sha": fake_repo.branch_head(pull.base),
                        "repo": _repo_ref(fake_repo, self.api_url),
                    },
                }
            ],
        }
        payload = {"action": "completed", "check_run": check_run, **self._event_context(fake_repo)}
        return self.send_webhook("check_run", payload)

    def _set_pull(self, number: int, repo: str | None, *, state: str, merged: bool) -> FakePull:
        with self._lock:
            pull = self._find_pull(number, repo)
            pull.state, pull.merged = state, merged
            return copy.deepcopy(pull)

    def _find_pull(self, number: int, repo: str | None) -> FakePull:
        found = [
            pull
            for pull in self._pulls
            if pull.number == number and (repo is None or pull.repo.lower() == repo.lower())
        ]
        if len(found) != 1:
            raise KeyError(f"{len(found)} pull requests numbered {number} (give repo=)")
        return found[0]

    def _pull_event(self, action: str, pull: FakePull) -> dict[str, Any]:
        repo = self._repos[pull.repo.lower()]
        return {
            "action": action,
            "number": pull.number,
            "pull_request": self._pull_json(pull),
            **self._event_context(repo),
        }

    def _event_context(self, repo: FakeRepo) -> dict[str, Any]:
        """What every webhook payload carries: the repository, the installation, the sender."""
        context: dict[str, Any] = {
            "repository": self._repo_json(repo),
            "sender": self._account_json(self.signed_in or repo.owner),
        }
        installation = self._installation_of(repo)
        if installation is not None:
            context["installation"] = {
                "id": installation.id,
                "node_id": _node_id("MDIz", installation.id),
            }
        return context

    # -- the HTTP side ---------------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        method, path = request.method, request.url.path
        recorded = RecordedRequest(method, path, request.url.query)
        with self._lock:
            self._requests.append(recorded)
        api = path == API_PREFIX or path.startswith(API_PREFIX + "/")
        git = _GIT_PATH.fullmatch(path)
        try:
            self._inject(method, path)
            if api:
                response = await self._api(request, path[len(API_PREFIX) :] or "/", recorded)
            elif git:
                response = await self._git(request, git, recorded)
            else:
                response = await self._web(request, path)
        except HttpError as exc:
            response = exc.json() if api else exc.text()
        recorded.status = response.status_code
        if api:
            with self._lock:
                self._api_calls += 1
                remaining = max(0, RATE_LIMIT - self._api_calls)
            response.headers["X-RateLimit-Limit"] = str(RATE_LIMIT)
            response.headers["X-RateLimit-Remaining"] = str(remaining)
            response.headers["X-RateLimit-Used"] = str(RATE_LIMIT - remaining)
            response.headers["X-RateLimit-Reset"] = str(int(time.time()) + 3600)
            response.headers["X-RateLimit-Resource"] = "core"
            response.headers["X-GitHub-Media-Type"] = "github.v3; format=json"
            response.headers["X-GitHub-Request-Id"] = uuid.uuid4().hex[:16].upper()
        return response

    def _inject(self, method: str, path: str) -> None:
        with self._lock:
            for injection in self._injections:
                if (
                    injection.remaining > 0
                    and fnmatch.fnmatchcase(method, injection.method)
                    and fnmatch.fnmatchcase(path, injection.pattern)
                ):
                    injection.remaining -= 1
                    raise HttpError(injection.status, injection.message)

    def _principal(self, request: Request, recorded: RecordedRequest) -> _Principal | None:
        """Who the request is: None without credentials; 401 for credentials that do not
        work. Accepts `Bearer`/`token` (API) and basic auth with the token as password (git)."""
        header = request.headers.get("authorization", "")
        if not header:
            return None
        scheme, _, credential = header.partition(" ")
        credential = credential.strip()
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(credential, validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                decoded = ""
            credential = decoded.partition(":")[2]
        elif scheme == "bearer" and credential.count(".") == 2:
            recorded.auth = "jwt"
            self._verify_jwt(credential)
            return _Principal("jwt")
        elif scheme not in ("bearer", "token"):
            credential = ""
        with self._lock:
            token = self._tokens.get(credential)
            if token is None or not token.live():
                recorded.auth = "invalid"
                raise HttpError(401, "Bad credentials")
        recorded.auth = token.kind
        return _Principal(token.kind, token, token.login)

    def _verify_jwt(self, encoded: str) -> FakeApp:
        """An app JWT as GitHub checks it: RS256 with the app's key, `iss` the app's id (or
        client id), not expired, `exp` at most ten minutes ahead."""
        app = self.app
        if app is None:
            raise HttpError(401, _BAD_JWT)
        try:
            claims = jwt.decode(
                encoded,
                app.public_key,
                algorithms=["RS256"],
                options={"require": ["iat", "exp", "iss"]},
                leeway=JWT_LEEWAY_SECONDS,
            )
        except jwt.ExpiredSignatureError:
            raise HttpError(401, _EXPIRED_JWT) from None
        except jwt.InvalidTokenError:
            raise HttpError(401, _BAD_JWT) from None
        if str(claims["iss"]) not in (str(app.id), app.client_id):
            raise HttpError(401, _BAD_JWT)
        if not isinstance(claims["exp"], int | float):
            raise HttpError(401, _EXPIRED_JWT)
        if claims["exp"] > time.time() + JWT_MAX_SECONDS + JWT_LEEWAY_SECONDS:
            raise HttpError(401, "'Expiration time' claim ('exp') is too far in the future")
        return app

    # -- access ----------------------------------------------------------------------------------

    def _reaches(self, who: _Principal | None, repo: FakeRepo) -> bool:
        """Whether the credential reaches the repository at all (beyond public reads)."""
        token = who.token if who is not None else None
        if token is None:
            return False
        key = repo.full_name.lower()
        if token.kind == "installation":
            installation = self._installations.get(token.installation_id or 0)
            return (
                installation is not None
                and key in {name.lower() for name in installation.repos}
                and (token.repos is None or key in token.repos)
            )
        if token.kind == "pat":
            return token.repos is not None and key in token.repos
        if token.kind == "user":
            return key in self._user_installation_repos(token.login or "")
        # An OAuth app's token acts as the user: their own, their orgs', and what they see.
        login = (token.login or "").lower()
        user = self._users.get(login)
        owners = {login, *(org.lower() for org in (user.orgs if user else []))}
        return repo.owner.lower() in owners or key in self._user_installation_repos(login)

    def _readable(self, who: _Principal | None, repo: FakeRepo) -> bool:
        return not repo.private or self._reaches(who, repo)

    def _permits(self, who: _Principal | None, permission: str, level: str) -> bool:
        """An installation token minted with permissions is held to them."""
        token = who.token if who is not None else None
        if token is None:
            return False
        if token.kind != "installation" or token.permissions is None:
            return True
        return _LEVELS.get(token.permissions.get(permission, "none"), 0) >= _LEVELS[level]

    def _user_installations(self, login: str) -> list[FakeInstallation]:
        return [
            installation
            for installation in self._installations.values()
            if login.lower() in {user.lower() for user in installation.users}
        ]

    def _user_installation_repos(self, login: str) -> set[str]:
        return {
            name.lower()
            for installation in self._user_installations(login)
            for name in installation.repos
        }

    def _installation_of(self, repo: FakeRepo) -> FakeInstallation | None:
        for installation in self._installations.values():
            if repo.full_name.lower() in {name.lower() for name in installation.repos}:
                return installation
        return None

    # -- git smart HTTP --------------------------------------------------------------------------

    async def _git(
        self, request: Request, match: re.Match[str], recorded: RecordedRequest
    ) -> Response:
        owner, name, rest = match.group(1), match.group(2), match.group(3)
        service = request.query_params.get("service", "") if rest == "/info/refs" else rest[1:]
        push = service == "git-receive-pack"
        challenge = {"WWW-Authenticate": 'Basic realm="GitHub"'}
        try:
            who = self._principal(request, recorded)
        except HttpError as exc:
            exc.headers.update(challenge)
            raise
        repo = self._repos.get(f"{owner}/{name}".lower())
        if who is None and (repo is None or repo.private or push):
            raise HttpError(401, "Authentication required", headers=challenge)
        if repo is None or not self._readable(who, repo):
            raise HttpError(404, "Repository not found.")
        if repo.private and not self._permits(who, "contents", "read"):
            raise HttpError(403, f"Permission to {repo.full_name}.git denied to x-access-token.")
        if push and not (self._reaches(who, repo) and self._permits(who, "contents", "write")):
            user = who.login if who is not None and who.login else "x-access-token"
            raise HttpError(403, f"Permission to {repo.full_name}.git denied to {user}.")
        body = await request.body()

        async def backend() -> Response:
            answer = await http_backend(
                self.base,
                self.repos_root,
                path_info=f"/{repo.owner}/{repo.name}.git{rest}",
                method=request.method,
                query=request.url.query,
                body=body,
                content_type=request.headers.get("content-type", ""),
                content_encoding=request.headers.get("content-encoding", ""),
                git_protocol=request.headers.get("git-protocol", ""),
                remote_user=(who.login or "x-access-token") if who is not None else "",
            )
            return Response(answer.body, answer.status, headers=answer.headers)

        if not (push and request.method == "POST"):
            return await backend()
        lock = self._push_locks.setdefault(repo.full_name.lower(), asyncio.Lock())
        async with lock:  # one push at a time, so that before/after tell what each changed
            before = await read_refs(self.base, repo.path)
            response = await backend()
            after = await read_refs(self.base, repo.path)
        changed = {
            ref: (before.get(ref), after.get(ref))
            for ref in sorted(set(before) | set(after))
            if before.get(ref) != after.get(ref)
        }
        if changed and who is not None:
            with self._lock:
                self._pushes.append(FakePush(repo.full_name, who.kind, who.login, changed))
                for pull in self._pulls:
                    new = after.get(f"refs/heads/{pull.head}")
                    if pull.repo == repo.full_name and new:
                        pull.head_sha = new
        return response

    # -- the web side ----------------------------------------------------------------------------

    async def _web(self, request: Request, path: str) -> Response:
        if path == "/login/oauth/authorize" and request.method == "GET":
            return self._authorize(request)
        if path == "/login/oauth/access_token" and request.method == "POST":
            return await self._access_token(request)
        new_app = re.fullmatch(r"(?:/organizations/([^/]+))?/settings/apps/new", path)
        if new_app and request.method == "POST":
            return await self._new_app(request, new_app.group(1))
        return _page(404, "Not Found", "This is not the web page you are looking for.")

    def _authorize(self, request: Request) -> Response:
        query = request.query_params
        client_id = query.get("client_id", "")
        callbacks = self._callbacks(client_id)
        if callbacks is None:
            return _page(404, "Not Found", "No application with this client_id.")
        login = self.signed_in
        if login is None:
            return _page(403, "Sign in to GitHub", "Nobody is signed in to GitHub.")
        state = query.get("state")
        redirect_uri = query.get("redirect_uri") or (callbacks[0] if callbacks else None)
        if redirect_uri is None:
            return _page(400, "Bad request", "No redirect_uri and no callback URL registered.")
        if callbacks and not any(_under(redirect_uri, callback) for callback in callbacks):
            error = {
                "error": "redirect_uri_mismatch",
                "error_description": _REDIRECT_MISMATCH,
                "error_uri": f"{OAUTH_ERRORS}#redirect-uri-mismatch",
            }
            return _redirect(callbacks[0], {**error, **({"state": state} if state else {})})
        code = secrets.token_hex(10)
        with self._lock:
            self._codes[code] = _Grant(
                client_id,
                login,
                query.get("redirect_uri"),
                query.get("scope", ""),
                time.time() + CODE_SECONDS,
            )
        return _redirect(redirect_uri, {"code": code, **({"state": state} if state else {})})

    def _callbacks(self, client_id: str) -> list[str] | None:
        """The registered callback URLs of the app or OAuth app with `client_id`; None for no
        such client."""
        if self.app is not None and client_id == self.app.client_id:
            return list(self.app.callback_urls)
        oauth = self._oauth_apps.get(client_id)
        if oauth is None:
            return None
        return [oauth.callback_url] if oauth.callback_url else []

    def _client_secret(self, client_id: str) -> str | None:
        if self.app is not None and client_id == self.app.client_id:
            return self.app.client_secret
        oauth = self._oauth_apps.get(client_id)
        return oauth.client_secret if oauth else None

    async def _access_token(self, request: Request) -> Response:
        """The code (or refresh token) exchange. GitHub answers errors with status 200 and an
        `error` field, in JSON when asked (`Accept: application/json`), else form-encoded."""
        form = await _form_or_json(request)
        as_json = "json" in request.headers.get("accept", "")
        client_id = form.get("client_id", "")
        secret = self._client_secret(client_id)
        if secret is None or not hmac.compare_digest(secret, form.get("client_secret", "")):
            answer = _oauth_error(
                "incorrect_client_credentials",
                "The client_id and/or client_secret passed are incorrect.",
                "incorrect-client-credentials",
            )
        elif form.get("grant_type") == "refresh_token":
            answer = self._refresh(client_id, form.get("refresh_token", ""))
        else:
            with self._lock:
                grant = self._codes.pop(form.get("code", ""), None)
            if grant is None or grant.client_id != client_id or grant.expires_at < time.time():
                answer = _oauth_error(
                    "bad_verification_code",
                    "The code passed is incorrect or expired.",
                    "bad-verification-code",
                )
            elif form.get("redirect_uri") and form.get("redirect_uri") != grant.redirect_uri:
                answer = _oauth_error(
                    "redirect_uri_mismatch",
                    _REDIRECT_MISMATCH,
                    "redirect-uri-mismatch2",
                )
            else:
                answer = self._user_token(client_id, grant.login, grant.scope)
        if as_json:
            return _json(200, answer)
        return Response(urlencode(answer), 200, media_type="application/x-www-form-urlencoded")

    def _user_token(self, client_id: str, login: str, scope: str) -> dict[str, Any]:
        """A user token: `ghu_` expiring, with a refresh token, for the App; `gho_` for an
        OAuth app."""
        with self._lock:
            if self.app is not None and client_id == self.app.client_id:
                token = _Token(
                    "ghu_" + _random(36),
                    "user",
                    login=login,
                    client_id=client_id,
                    expires_at=time.time() + USER_TOKEN_SECONDS,
                )
                refresh = _Token(
                    "ghr_" + _random(76),
                    "refresh",
                    login=login,
                    client_id=client_id,
                    expires_at=time.time() + REFRESH_TOKEN_SECONDS,
                )
                self._tokens[token.value] = token
                self._refresh_tokens[refresh.value] = refresh
                return {
                    "access_token": token.value,
                    "expires_in": USER_TOKEN_SECONDS,
                    "refresh_token": refresh.value,
                    "refresh_token_expires_in": REFRESH_TOKEN_SECONDS,
                    "scope": "",
                    "token_type": "bearer",
                }
            token = _Token("gho_" + _random(36), "oauth", login=login, client_id=client_id)
            self._tokens[token.value] = token
            return {"access_token": token.value, "scope": scope, "token_type": "bearer"}

    def _refresh(self, client_id: str, value: str) -> dict[str, Any]:
        """A refresh token is single-use: it is spent on a new pair."""
        with self._lock:
            refresh = self._refresh_tokens.pop(value, None)
        if refresh is None or refresh.client_id != client_id or not refresh.live():
            return _oauth_error(
                "bad_refresh_token",
                "The refresh token passed is incorrect or expired.",
                "bad-refresh-token",
            )
        return self._user_token(client_id, refresh.login or "", "")

    async def _new_app(self, request: Request, org: str | None) -> Response:
        """The manifest flow's first leg: GitHub would show the form, and the user would press
        "Create GitHub App"; the fake presses it at once and redirects with the code."""
        async with request.form() as form:
            text = form.get("manifest")
        state = request.query_params.get("state")
        owner = org or self.signed_in
        if owner is None:
            return _page(403, "Sign in to GitHub", "Nobody is signed in to GitHub.")
        try:
            manifest = json.loads(text) if isinstance(text, str) else None
        except ValueError:
            manifest = None
        if not isinstance(manifest, dict):
            return _page(422, "Invalid manifest", "The manifest is not a JSON object.")
        missing = [key for key in ("url", "redirect_url") if not manifest.get(key)]
        if missing:
            return _page(422, "Invalid manifest", f"The manifest lacks {', '.join(missing)}.")
        code = secrets.token_hex(10)
        with self._lock:
            self._manifest_codes[code] = _Grant(
                "", owner, None, "", time.time() + 3600, manifest=manifest
            )
        return _redirect(
            manifest["redirect_url"], {"code": code, **({"state": state} if state else {})}
        )

    def _make_app(self, manifest: dict[str, Any], owner: str) -> FakeApp:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ).decode()
        name = str(manifest.get("name") or f"{owner}-app")
        hook = manifest.get("hook_attributes") or {}
        with self._lock:
            app_id = next(self._ids)
            app = FakeApp(
                id=app_id,
                slug=re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or f"app-{app_id}",
                name=name,
                node_id=_node_id("A_", app_id),
                owner=owner,
                client_id="Iv1." + secrets.token_hex(8),
                client_secret=secrets.token_hex(20),
                webhook_secret=secrets.token_hex(20),
                pem=pem,
                manifest=copy.deepcopy(manifest),
                webhook_url=hook.get("url") if hook.get("active", True) else None,
                permissions=dict(manifest.get("default_permissions") or {}),
                events=list(manifest.get("default_events") or []),
                callback_urls=list(manifest.get("callback_urls") or []),
                created_at=_iso(time.time()),
                public_key=key.public_key(),
            )
            if owner.lower() not in self._users:
                self._org_id(owner)
            self.app = app
        return app

    # -- the API ---------------------------------------------------------------------------------

    async def _api(self, request: Request, path: str, recorded: RecordedRequest) -> Response:
        who = self._principal(request, recorded)
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(path.rstrip("/") or "/")
            if match is not None and method == request.method:
                return await handler(request, who, match)
        raise HttpError(404, "Not Found")

    def _user_of(self, who: _Principal | None) -> FakeUser:
        """The user behind a user token or personal token; GitHub's answer for anything else."""
        if who is None:
            raise HttpError(401, "Requires authentication")
        if who.kind not in ("user", "oauth", "pat"):
            raise HttpError(403, _NOT_INTEGRATION)
        user = self._users.get((who.login or "").lower())
        if user is None:
            raise HttpError(404, "Not Found")
        return user

    def _app_of(self, who: _Principal | None) -> FakeApp:
        if who is None or who.kind != "jwt" or self.app is None:
            raise HttpError(401, _BAD_JWT)
        return self.app

    def _readable_repo(self, who: _Principal | None, owner: str, name: str) -> FakeRepo:
        repo = self._repos.get(f"{owner}/{name}".lower())
        if repo is None or not self._readable(who, repo):
            raise HttpError(404, "Not Found")
        return repo

    async def _get_meta(self, request: Request, who: _Who, match: _Match) -> Response:
        return _json(
            200, {"verifiable_password_authentication": False, "ssh_keys": self.ssh_host_keys}
        )

    async def _get_user(self, request: Request, who: _Who, match: _Match) -> Response:
        user = self._user_of(who)
        body = self._account_json(user.login)
        body.update({"name": user.name, "email": user.email, "company": None, "bio": None})
        return _json(200, body)

    async def _get_user_orgs(self, request: Request, who: _Who, match: _Match) -> Response:
        user = self._user_of(who)
        return _json(200, [self._org_json(org) for org in user.orgs])

    async def _get_user_installations(self, request: Request, who: _Who, match: _Match) -> Response:
        user = self._user_of(who)
        if who is None or who.kind != "user":
            raise HttpError(
                403,
                "You must authenticate with an access token authorized to a GitHub App in "
                "order to list installations",
            )
        installations = [self._installation_json(i) for i in self._user_installations(user.login)]
        return _json(200, {"total_count": len(installations), "installations": installations})

    async def _get_user_inst_repos(self, request: Request, who: _Who, match: _Match) -> Response:
        user = self._user_of(who)
        installation = self._installations.get(int(match.group(1)))
        if installation is None or installation not in self._user_installations(user.login):
            raise HttpError(404, "Not Found")
        repos = [self._repo_json(self._repos[name.lower()]) for name in installation.repos]
        return _json(
            200,
            {"total_count": len(repos), "repository_selection": "selected", "repositories": repos},
        )

    async def _convert_manifest(self, request: Request, who: _Who, match: _Match) -> Response:
        with self._lock:
            grant = self._manifest_codes.pop(match.group(1), None)
        if grant is None or grant.manifest is None or grant.expires_at < time.time():
            raise HttpError(404, "Not Found")
        self._make_app(grant.manifest, grant.login)
        body = self._app_json(public=False)
        return _json(201, body)

    async def _get_app(self, request: Request, who: _Who, match: _Match) -> Response:
        self._app_of(who)
        return _json(200, self._app_json(public=True))

    async def _get_app_installations(self, request: Request, who: _Who, match: _Match) -> Response:
        app = self._app_of(who)
        installations = [i for i in self._installations.values() if i.app_id == app.id]
        return _json(200, [self._installation_json(i) for i in installations])

    def _app_installation(self, who: _Principal | None, installation_id: str) -> FakeInstallation:
        app = self._app_of(who)
        installation = self._installations.get(int(installation_id))
        if installation is None or installation.app_id != app.id:
            raise HttpError(404, "Not Found")
        return installation

    async def _get_app_installation(self, request: Request, who: _Who, match: _Match) -> Response:
        return _json(200, self._installation_json(self._app_installation(who, match.group(1))))

    async def _get_repo_installation(self, request: Request, who: _Who, match: _Match) -> Response:
        app = self._app_of(who)
        repo = self._repos.get(f"{match.group(1)}/{match.group(2)}".lower())
        installation = self._installation_of(repo) if repo is not None else None
        if installation is None or installation.app_id != app.id:
            raise HttpError(404, "Not Found")
        return _json(200, self._installation_json(installation))

    async def _mint_token(self, request: Request, who: _Who, match: _Match) -> Response:
        """An installation token: an hour long, optionally narrowed to some repositories and
        permissions (never beyond the installation's: 422)."""
        installation = self._app_installation(who, match.group(1))
        app = self._app_of(who)
        body = await _json_body(request)
        members = {name.lower(): name for name in installation.repos}
        wanted: set[str] = set()
        for name in body.get("repositories") or []:
            full = f"{installation.account}/{name}".lower()
            if full not in members:
                raise _not_accessible()
            wanted.add(full)
        by_id = {self._repos[key].id: key for key in members}
        for repo_id in body.get("repository_ids") or []:
            if repo_id not in by_id:
                raise _not_accessible()
            wanted.add(by_id[repo_id])
        asked = body.get("permissions")
        if asked is not None:
            if not isinstance(asked, dict) or any(
                level not in _LEVELS or level == "none" for level in asked.values()
            ):
                raise _validation(resource="Permissions", code="invalid", field="permissions")
            if app.permissions and any(
                _LEVELS[level] > _LEVELS.get(app.permissions.get(name, "none"), 0)
                for name, level in asked.items()
                if name != "metadata"
            ):
                raise HttpError(
                    422, "The permissions requested are not granted to this installation."
                )
        permissions = dict(asked) if asked is not None else (dict(app.permissions) or None)
        token = _Token(
            "ghs_" + _random(36),
            "installation",
            installation_id=installation.id,
            repos=frozenset(wanted) if wanted else None,
            permissions=permissions,
            expires_at=time.time() + INSTALLATION_TOKEN_SECONDS,
        )
        with self._lock:
            self._tokens[token.value] = token
        answer: dict[str, Any] = {
            "token": token.value,
            "expires_at": _iso(token.expires_at or 0),
            "permissions": permissions or _ALL_PERMISSIONS,
            "repository_selection": "selected",
        }
        if wanted:
            answer["repositories"] = [self._repo_json(self._repos[key]) for key in sorted(wanted)]
        return _json(201, answer)

    async def _delete_installation_token(
        self, request: Request, who: _Who, match: _Match
    ) -> Response:
        if who is None or who.token is None or who.kind != "installation":
            raise HttpError(401, "Bad credentials")
        self.revoke(who.token.value)
        return Response(status_code=204)

    async def _get_installation_repos(self, request: Request, who: _Who, match: _Match) -> Response:
        if who is None or who.kind != "installation":
            raise HttpError(403, "This endpoint can only be accessed with an installation token")
        repos = [repo for repo in self._repos.values() if self._reaches(who, repo)]
        return _json(
            200,
            {
                "total_count": len(repos),
                "repository_selection": "selected",
                "repositories": [self._repo_json(repo) for repo in repos],
            },
        )

    async def _get_repo(self, request: Request, who: _Who, match: _Match) -> Response:
        repo = self._readable_repo(who, match.group(1), match.group(2))
        return _json(200, self._repo_json(repo, who))

    async def _create_pull(self, request: Request, who: _Who, match: _Match) -> Response:
        repo = self._readable_repo(who, match.group(1), match.group(2))
        if who is None:
            raise HttpError(401, "Requires authentication")
        if not self._reaches(who, repo):
            raise HttpError(
                403,
                _NOT_INTEGRATION
                if who and who.kind == "installation"
                else "Must have push access to repository",
            )
        if not self._permits(who, "pull_requests", "write"):
            raise HttpError(403, _NOT_INTEGRATION)
        body = await _json_body(request)
        for required in ("title", "head", "base"):
            if not isinstance(body.get(required), str) or not body[required]:
                raise _validation(resource="PullRequest", code="missing_field", field=required)
        head_owner, _, head = body["head"].rpartition(":")
        base: str = body["base"]
        if head_owner and head_owner.lower() != repo.owner.lower():
            raise _validation(resource="PullRequest", field="head", code="invalid")
        with self._lock:
            duplicate = any(
                pull.repo == repo.full_name
                and pull.state == "open"
                and pull.head == head
                and pull.base == base
                for pull in self._pulls
            )
        if duplicate:
            raise _validation(f"A pull request already exists for {repo.owner}:{head}.")
        head_sha = await self._head(repo, head)
        if await self._head(repo, base) is None:
            raise _validation(resource="PullRequest", field="base", code="invalid")
        if head_sha is None:
            raise _validation(resource="PullRequest", field="head", code="invalid")
        _, ahead = await run_git_async(
            self.base, "rev-list", "--count", f"refs/heads/{base}..refs/heads/{head}", cwd=repo.path
        )
        if ahead.strip() == "0":
            raise _validation(f"No commits between {base} and {head}")
        author = who.login if who is not None and who.login else self._bot_login()
        with self._lock:
            number = 1 + max((p.number for p in self._pulls if p.repo == repo.full_name), default=0)
            pull = FakePull(
                id=next(self._ids),
                number=number,
                repo=repo.full_name,
                title=body["title"],
                body=body.get("body"),
                head=head,
                base=base,
                draft=bool(body.get("draft", False)),
                state="open",
                merged=False,
                html_url=f"{repo.html_url}/pull/{number}",
                head_sha=head_sha,
                author=author,
                created_at=_iso(time.time()),
            )
            self._pulls.append(pull)
            answer = self._pull_json(pull)
        return _json(201, answer)

    async def _head(self, repo: FakeRepo, branch: str) -> str | None:
        code, sha = await run_git_async(
            self.base,
            "rev-parse",
            "--verify",
            "-q",
            f"refs/heads/{branch}^{{commit}}",
            cwd=repo.path,
        )
        return sha if code == 0 and sha else None

    async def _list_pulls(self, request: Request, who: _Who, match: _Match) -> Response:
        repo = self._readable_repo(who, match.group(1), match.group(2))
        query = request.query_params
        state = query.get("state", "open")
        # GitHub filters on `head` only in the form owner:branch, and ignores a bare branch.
        head_owner, _, head = query.get("head", "").rpartition(":")
        if not head_owner:
            head = ""
        with self._lock:
            pulls = [
                self._pull_json(pull)
                for pull in sorted(self._pulls, key=lambda p: -p.number)
                if pull.repo == repo.full_name
                and (state == "all" or pull.state == state)
                and (not head or (pull.head == head and head_owner.lower() == repo.owner.lower()))
                and (not query.get("base") or pull.base == query.get("base"))
            ]
        return _json(200, pulls)

    def _pull_of(self, who: _Principal | None, match: re.Match[str]) -> FakePull:
        repo = self._readable_repo(who, match.group(1), match.group(2))
        number = int(match.group(3))
        for pull in self._pulls:
            if pull.repo == repo.full_name and pull.number == number:
                return pull
        raise HttpError(404, "Not Found")

    async def _get_pull(self, request: Request, who: _Who, match: _Match) -> Response:
        with self._lock:
            return _json(200, self._pull_json(self._pull_of(who, match)))

    async def _update_pull(self, request: Request, who: _Who, match: _Match) -> Response:
        body = await _json_body(request)
        if who is None:
            raise HttpError(401, "Requires authentication")
        if not self._permits(who, "pull_requests", "write"):
            raise HttpError(403, _NOT_INTEGRATION)
        with self._lock:
            pull = self._pull_of(who, match)
            if not self._reaches(who, self._repos[pull.repo.lower()]):
                raise HttpError(403, _NOT_INTEGRATION)
            if "state" in body and body["state"] not in ("open", "closed"):
                raise _validation(resource="PullRequest", field="state", code="invalid")
            for name in ("title", "body", "state", "base"):
                if name in body:
                    setattr(pull, name, body[name])
            return _json(200, self._pull_json(pull))

    # -- GitHub's shapes -------------------------------------------------------------------------

    def _org_id(self, login: str) -> int:
        """An organization's id, made when first named (call with the lock held)."""
        return self._orgs.setdefault(login.lower(), next(self._ids))

    def _account_json(self, login: str) -> dict[str, Any]:
        user = self._users.get(login.lower())
        if user is not None:
            account_id, kind, login = user.id, "User", user.login
        else:
            account_id, kind = self._org_id(login), "Organization"
        return {
            "login": login,
            "id": account_id,
            "node_id": _node_id("U_" if kind == "User" else "O_", account_id),
            "avatar_url": f"{self.web_url}/avatars/u/{account_id}",
            "url": f"{self.api_url}/users/{login}",
            "html_url": f"{self.web_url}/{login}",
            "type": kind,
            "site_admin": False,
        }

    def _org_json(self, login: str) -> dict[str, Any]:
        org_id = self._org_id(login)
        return {
            "login": login,
            "id": org_id,
            "node_id": _node_id("O_", org_id),
            "url": f"{self.api_url}/orgs/{login}",
            "avatar_url": f"{self.web_url}/avatars/u/{org_id}",
            "description": None,
        }

    def _repo_json(self, repo: FakeRepo, who: _Principal | None = None) -> dict[str, Any]:
        host = urlsplit(self.web_url).hostname
        body: dict[str, Any] = {
            "id": repo.id,
            "node_id": _node_id("R_", repo.id),
            "name": repo.name,
            "full_name": repo.full_name,
            "private": repo.private,
            "visibility": "private" if repo.private else "public",
            "owner": self._account_json(repo.owner),
            "html_url": repo.html_url,
            "url": f"{self.api_url}/repos/{repo.full_name}",
            "clone_url": repo.clone_url,
            "git_url": f"git://{host}/{repo.full_name}.git",
            "ssh_url": f"git@{host}:{repo.full_name}.git",
            "default_branch": repo.default_branch,
            "fork": False,
            "archived": False,
            "disabled": False,
        }
        if who is not None and who.kind in ("user", "oauth", "pat"):
            push = self._reaches(who, repo)
            body["permissions"] = {
                "admin": False,
                "maintain": False,
                "push": push,
                "triage": push,
                "pull": True,
            }
        return body

    def _installation_json(self, installation: FakeInstallation) -> dict[str, Any]:
        app = self.app
        account = self._account_json(installation.account)
        if installation.account_type == "Organization":
            settings = f"{self.web_url}/organizations/{installation.account}/settings"
            html_url = f"{settings}/installations/{installation.id}"
        else:
            html_url = f"{self.web_url}/settings/installations/{installation.id}"
        return {
            "id": installation.id,
            "account": account,
            "app_id": installation.app_id,
            "app_slug": app.slug if app else None,
            "client_id": app.client_id if app else None,
            "target_id": account["id"],
            "target_type": installation.account_type,
            "repository_selection": "selected",
            "access_tokens_url": f"{self.api_url}/app/installations/{installation.id}"
            + "/access_tokens",
            "repositories_url": f"{self.api_url}/installation/repositories",
            "html_url": html_url,
            "permissions": (app.permissions if app else None) or _ALL_PERMISSIONS,
            "events": app.events if app else [],
            "created_at": installation.created_at,
            "updated_at": installation.created_at,
            "single_file_name": None,
            "suspended_at": None,
            "suspended_by": None,
        }

    def _app_json(self, *, public: bool) -> dict[str, Any]:
        """The app as `GET /app` shows it, or (`public=False`) as manifest conversion hands it
        over, with its secrets and key."""
        app = self.app
        assert app is not None
        body: dict[str, Any] = {
            "id": app.id,
            "slug": app.slug,
            "node_id": app.node_id,
            "client_id": app.client_id,
            "owner": self._account_json(app.owner),
            "name": app.name,
            "description": app.manifest.get("description"),
            "external_url": app.manifest.get("url"),
            "html_url": f"{self.web_url}/apps/{app.slug}",
            "created_at": app.created_at,
            "updated_at": app.created_at,
            "permissions": app.permissions,
            "events": app.events,
            "installations_count": sum(
                1 for i in self._installations.values() if i.app_id == app.id
            ),
        }
        if not public:
            body.update(
                {
                    "client_secret": app.client_secret,
                    "webhook_secret": app.webhook_secret,
                    "pem": app.pem,
                }
            )
        return body

    def _pull_json(self, pull: FakePull) -> dict[str, Any]:
        repo = self._repos[pull.repo.lower()]
        api = f"{self.api_url}/repos/{pull.repo}/pulls/{pull.number}"
        closed = pull.state == "closed"
        repo_json = self._repo_json(repo)
        return {
            "id": pull.id,
            "node_id": _node_id("PR_", pull.id),
            "number": pull.number,
            "url": api,
            "html_url": pull.html_url,
            "diff_url": f"{pull.html_url}.diff",
            "state": pull.state,
            "locked": False,
            "title": pull.title,
            "body": pull.body,
            "draft": pull.draft,
            "merged": pull.merged,
            "mergeable": None,
            "merged_at": pull.created_at if pull.merged else None,
            "closed_at": pull.created_at if closed else None,
            "created_at": pull.created_at,
            "updated_at": pull.created_at,
            "user": self._account_json(pull.author),
            "requested_reviewers": [self._account_json(r) for r in pull.requested_reviewers],
            "head": {
                "label": f"{repo.owner}:{pull.head}",
                "ref": pull.head,
                "sha": pull.head_sha,
                "repo": repo_json,
            },
            "base": {"label": f"{repo.owner}:{pull.base}", "ref": pull.base, "repo": repo_json},
        }

    def _bot_login(self) -> str:
        return f"{self.app.slug}[bot]" if self.app else "github-actions[bot]"


# -- helpers -----------------------------------------------------------------------------------

_GIT_PATH = re.compile(r"/([^/]+)/([^/]+?)\.git(/.*)")
_ALL_PERMISSIONS = {"contents": "write", "metadata": "read", "pull_requests": "write"}


def _random(length: int) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _node_id(prefix: str, number: int) -> str:
    return prefix + base64.b64encode(f"fake:{number}".encode()).decode().rstrip("=")


def _repo_ref(repo: FakeRepo, api_url: str) -> dict[str, Any]:
    return {"id": repo.id, "name": repo.name, "url": f"{api_url}/repos/{repo.full_name}"}


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status, media_type="application/json; charset=utf-8")


def _page(status: int, title: str, text: str) -> Response:
    head = f"<!DOCTYPE html><html><head><title>{title}</title></head>"
    html = f"{head}<body><h1>{title}</h1><p>{text}</p></body></html>"
    return Response(html, status, media_type="text/html; charset=utf-8")


def _redirect(url: str, params: dict[str, str]) -> Response:
    joined = url + ("&" if "?" in url else "?") + urlencode(params)
    return Response(status_code=302, headers={"Location": joined})


def _under(redirect_uri: str, callback: str) -> bool:
    """GitHub's rule: the same scheme, host and port, and a path under the callback's."""
    asked, registered = urlsplit(redirect_uri), urlsplit(callback)
    return (asked.scheme, asked.netloc) == (
        registered.scheme,
        registered.netloc,
    ) and asked.path.startswith(registered.path.rstrip("/"))


def _oauth_error(error: str, description: str, anchor: str) -> dict[str, Any]:
    return {
        "error": error,
        "error_description": description,
        "error_uri": f"{OAUTH_ERRORS}#{anchor}",
    }


def _not_accessible() -> HttpError:
    return HttpError(
        422,
        "There is at least one repository that does not exist or is not accessible to the "
        "parent installation.",
    )


async def _json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except ValueError:
        raise HttpError(400, "Problems parsing JSON") from None
    if not isinstance(body, dict):
        raise HttpError(400, "Problems parsing JSON")
    return body


async def _form_or_json(request: Request) -> dict[str, str]:
    """The OAuth endpoint takes a form, a JSON body or query parameters, as GitHub's does."""
    raw = await request.body()
    fields: dict[str, str] = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("application/json"):
        with contextlib.suppress(ValueError):
            body = json.loads(raw or b"{}")
            if isinstance(body, dict):
                fields.update({key: str(value) for key, value in body.items()})
    else:
        fields.update(parse_qsl(raw.decode(errors="replace")))
    return fields


@contextmanager
def fake_github(base: Path, *, listen: socket.socket | None = None) -> Iterator[FakeGitHub]:
    """A started `FakeGitHub` keeping its repositories under `base`, stopped however the
    block ends; `listen` as for `FakeGitHub`."""
    github = FakeGitHub(base, listen=listen)
    github.start()
    try:
        yield github
    finally:
        github.stop()
