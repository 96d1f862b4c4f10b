"""Who may call what: every route in the OpenAPI document, asked by four kinds of caller.

The callers are nobody (no credentials), another signed-in user, the owner, and the owner's own
API token after it was revoked. `ROUTES` says for each route how to make a valid request against
objects the owner owns, and what the owner and the other user must get. The parametrisation is the
union of the OpenAPI document's routes and `ROUTES`, so a new route without a row, or a row for a
route that is gone, fails under its own name.

Each case runs against a fresh app and database, so a DELETE in one case cannot break another;
within a case, the callers other than the owner go first (see `matrix`).
No node daemon is linked to these apps: the owner's node exists but is not connected, so routes that
need the node answer the error that says so, which the owner's row names.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from corral.control.app import create_app
from corral.control.db.models import AgentSession, PermissionRequest, PermissionState, Workspace
from corral.control.state import AppState
from corral.ids import new_id
from corral.settings import load_settings
from corral.states import SessionState, WorkspaceState
from tests.support.api import ApiUser, owner_login_token

RouteKey = tuple[str, str]
PRINCIPALS = ("anonymous", "revoked_token", "other_user", "owner")
"""In the order a route is asked by them: the owner, who may change things, last."""
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "options", "trace"})


@dataclass(frozen=True)
class Owned:
    """Objects the owner owns, made afresh for each case."""

    owner_id: str
    credential_name: str
    credential_id: str
    project_id: str
    token_id: str
    login_link: str
    repo: str
    node_id: str
    """Nodes are shared: every signed-in user may see this one, so it is not among `ids`."""
    join_token: str
    workspace_id: str
    """Running on `node_id`, which is not linked."""
    agent_name: str
    """An agent the owner added."""
    session_id: str
    """Idle in `workspace_id`, with a pending permission request."""
    permission_request_id: str
    invite_id: str
    """An invite the owner sent, not yet accepted."""

    @property
    def ids(self) -> tuple[str, ...]:
        """What no one but the owner may ever see."""
        return (
            self.owner_id,
            self.credential_id,
            self.project_id,
            self.token_id,
            self.workspace_id,
            self.agent_name,
            self.session_id,
            self.permission_request_id,
            self.invite_id,
        )


@dataclass(frozen=True)
class Req:
    params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    """Over the caller's: a route that takes a join token as its bearer token, say."""


@dataclass(frozen=True)
class Route:
    build: Callable[[Owned], Req]
    """A valid request for the owner, its path filled with the owner's objects."""
    owner: int
    other: int
    """404 for another user's object, 403 for owner-only routes, success for the caller's own."""
    shows: Callable[[Owned], str] | None = None
    """Something the owner's answer must hold (the other user's must not, if it is in `ids`)."""
    owner_code: str | None = None
    """The error code of the owner's answer, where the owner's request cannot succeed here."""
    public: bool = False
    """Needs no sign-in; `bad` is then the same request with a credential that is not valid."""
    bad: Callable[[Owned], Req] | None = None


def no_request(_: Owned) -> Req:
    return Req()


def in_workspace(json: Any = None) -> Callable[[Owned], Req]:
    return lambda o: Req(params={"workspace": o.workspace_id}, json=json)


def in_session(json: Any = None) -> Callable[[Owned], Req]:
    return lambda o: Req(params={"session": o.session_id}, json=json)


def of_agent(json: Any = None) -> Callable[[Owned], Req]:
    return lambda o: Req(params={"agent": o.agent_name}, json=json)


def in_terminal(o: Owned) -> Req:
    return Req(params={"workspace": o.workspace_id, "terminal": UNKNOWN_TERMINAL})


def join_bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# Any well-formed terminal id: the node that would know it is not linked.
UNKNOWN_TERMINAL = "trm_" + "0" * 26


ROUTES: dict[RouteKey, Route] = {
    ("POST", "/api/v1/auth/exchange"): Route(
        lambda o: Req(json={"token": o.login_link}),
        owner=201,
        other=201,
        public=True,
        bad=lambda o: Req(json={"token": "crllink_this-link-was-never-issued"}),
    ),
    ("POST", "/api/v1/auth/logout"): Route(no_request, owner=204, other=204),
    ("GET", "/api/v1/me"): Route(no_request, owner=200, other=200, shows=lambda o: o.owner_id),
    ("GET", "/api/v1/tokens"): Route(no_request, owner=200, other=200, shows=lambda o: o.token_id),
    ("POST", "/api/v1/tokens"): Route(lambda o: Req(json={"name": "laptop"}), owner=201, other=201),
    ("DELETE", "/api/v1/tokens/{token_id}"): Route(
        lambda o: Req(params={"token_id": o.token_id}), owner=200, other=404
    ),
    ("GET", "/api/v1/users"): Route(no_request, owner=200, other=403, shows=lambda o: o.owner_id),
    ("POST", "/api/v1/users/invites"): Route(
        lambda o: Req(json={"name": "invitee"}), owner=201, other=403
    ),
    ("GET", "/api/v1/users/invites"): Route(
        no_request, owner=200, other=403, shows=lambda o: o.invite_id
    ),
    ("DELETE", "/api/v1/users/invites/{invite}"): Route(
        lambda o: Req(params={"invite": o.invite_id}), owner=200, other=403
    ),
    # The member the owner looks up, disables and enables is the other caller (conftest's
    # `other_user`), who is refused all three.
    ("GET", "/api/v1/users/{user_ref}"): Route(
        lambda o: Req(params={"user_ref": "other"}), owner=200, other=403
    ),
    ("POST", "/api/v1/users/{user_ref}/disable"): Route(
        lambda o: Req(params={"user_ref": "other"}), owner=200, other=403
    ),
    ("POST", "/api/v1/users/{user_ref}/enable"): Route(
        lambda o: Req(params={"user_ref": "other"}), owner=200, other=403
    ),
    ("GET", "/api/v1/credentials"): Route(
        no_request, owner=200, other=200, shows=lambda o: o.credential_id
    ),
    # Names are per user: the other user's PUT makes a credential of their own (201), where a
    # 200 would mean it replaced the owner's.
    ("PUT", "/api/v1/credentials/{name}"): Route(
        lambda o: Req(
            params={"name": o.credential_name},
            json={"kind": "anthropic", "value": "sk-ant-matrix-replacement"},
        ),
        owner=200,
        other=201,
    ),
    ("GET", "/api/v1/credentials/{name}"): Route(
        lambda o: Req(params={"name": o.credential_id}), owner=200, other=404
    ),
    ("DELETE", "/api/v1/credentials/{name}"): Route(
        lambda o: Req(params={"name": o.credential_id}), owner=204, other=404
    ),
    # GitHub is not set up in these apps: no App, nobody's account linked.
    ("GET", "/api/v1/github"): Route(no_request, owner=200, other=200),
    ("POST", "/api/v1/github/app/manifest"): Route(lambda o: Req(json={}), owner=200, other=403),
    ("DELETE", "/api/v1/github/app"): Route(
        no_request, owner=404, other=403, owner_code="not_found"
    ),
    ("DELETE", "/api/v1/github/account"): Route(no_request, owner=204, other=204),
    ("GET", "/api/v1/github/repositories"): Route(
        no_request, owner=422, other=422, owner_code="github_not_linked"
    ),
    ("GET", "/api/v1/projects"): Route(
        no_request, owner=200, other=200, shows=lambda o: o.project_id
    ),
    ("POST", "/api/v1/projects"): Route(
        lambda o: Req(json={"name": "fresh-project", "repo": o.repo}), owner=201, other=201
    ),
    ("GET", "/api/v1/projects/{project}"): Route(
        lambda o: Req(params={"project": o.project_id}), owner=200, other=404
    ),
    ("PATCH", "/api/v1/projects/{project}"): Route(
        lambda o: Req(params={"project": o.project_id}, json={"default_branch": "dev"}),
        owner=200,
        other=404,
    ),
    ("DELETE", "/api/v1/projects/{project}"): Route(
        lambda o: Req(params={"project": o.project_id}), owner=204, other=404
    ),
    ("GET", "/api/v1/activity"): Route(
        no_request, owner=200, other=200, shows=lambda o: o.credential_id
    ),
    # Nodes are the owner's shared machines: everyone sees them, only the owner manages them.
    ("GET", "/api/v1/nodes"): Route(no_request, owner=200, other=200, shows=lambda o: o.node_id),
    ("POST", "/api/v1/nodes"): Route(
        lambda o: Req(json={"name": "fresh-node"}), owner=201, other=403
    ),
    ("POST", "/api/v1/nodes/join"): Route(
        lambda o: Req(json={"join_token": o.join_token}),
        owner=201,
        other=201,
        public=True,
        bad=lambda o: Req(json={"join_token": "crljoin_this-token-was-never-issued"}),
    ),
    # What a new machine calls with its join token as the bearer token, whoever else it is.
    ("POST", "/api/v1/nodes/bootstrap"): Route(
        lambda o: Req(json={"step": "installing Docker"}, headers=join_bearer(o.join_token)),
        owner=204,
        other=204,
        public=True,
        bad=lambda o: Req(json={"step": "x"}, headers=join_bearer("crljoin_never-issued")),
    ),
    ("GET", "/api/v1/nodes/package"): Route(
        lambda o: Req(headers=join_bearer(o.join_token)),
        owner=200,
        other=200,
        public=True,
        bad=lambda o: Req(headers=join_bearer("crljoin_never-issued")),
    ),
    # Providers and costs: everyone's own (a member sees their spend, sets their own default
    # node); `local` offers no sizes and needs no credential.
    ("GET", "/api/v1/providers"): Route(no_request, owner=200, other=200),
    ("GET", "/api/v1/providers/{provider}/offer"): Route(
        lambda o: Req(params={"provider": "local"}), owner=200, other=200
    ),
    ("GET", "/api/v1/providers/default-node"): Route(no_request, owner=200, other=200),
    ("PUT", "/api/v1/providers/default-node"): Route(
        lambda o: Req(json={"provider": "hetzner", "machine_type": "cx23", "region": "fsn1"}),
        owner=200,
        other=200,
    ),
    ("DELETE", "/api/v1/providers/default-node"): Route(no_request, owner=204, other=204),
    ("GET", "/api/v1/costs"): Route(no_request, owner=200, other=200),
    ("GET", "/api/v1/nodes/{node}"): Route(
        lambda o: Req(params={"node": o.node_id}), owner=200, other=200, shows=lambda o: o.node_id
    ),
    ("POST", "/api/v1/nodes/{node}/join-token"): Route(
        lambda o: Req(params={"node": o.node_id}), owner=201, other=403
    ),
    ("DELETE", "/api/v1/nodes/{node}"): Route(
        lambda o: Req(params={"node": o.node_id}), owner=200, other=403
    ),
    # Workspaces are the user's own. The other user's POST names the owner's project.
    ("GET", "/api/v1/workspaces"): Route(
        no_request, owner=200, other=200, shows=lambda o: o.workspace_id
    ),
    # The owner's waits in `pending` for a node.
    ("POST", "/api/v1/workspaces"): Route(
        lambda o: Req(json={"project": o.project_id}), owner=201, other=404
    ),
    ("GET", "/api/v1/workspaces/{workspace}"): Route(
        in_workspace(), owner=200, other=404, shows=lambda o: o.workspace_id
    ),
    ("PATCH", "/api/v1/workspaces/{workspace}"): Route(
        in_workspace({"idle_timeout_minutes": 0}),
        owner=200,
        other=404,
        shows=lambda o: o.workspace_id,
    ),
    ("DELETE", "/api/v1/workspaces/{workspace}"): Route(
        in_workspace(), owner=503, other=404, owner_code="node_not_connected"
    ),
    ("GET", "/api/v1/workspaces/{workspace}/log"): Route(in_workspace(), owner=200, other=404),
    ("POST", "/api/v1/workspaces/{workspace}/stop"): Route(
        in_workspace(), owner=503, other=404, owner_code="node_not_connected"
    ),
    # The workspace is running already, so starting it asks nothing of the node.
    ("POST", "/api/v1/workspaces/{workspace}/start"): Route(
        in_workspace(), owner=200, other=404, shows=lambda o: o.workspace_id
    ),
    ("POST", "/api/v1/workspaces/{workspace}/rebuild"): Route(
        in_workspace(), owner=503, other=404, owner_code="node_not_connected"
    ),
    ("GET", "/api/v1/workspaces/{workspace}/terminals"): Route(
        in_workspace(), owner=503, other=404, owner_code="node_not_connected"
    ),
    ("POST", "/api/v1/workspaces/{workspace}/terminals"): Route(
        in_workspace({"cols": 100, "rows": 30}),
        owner=503,
        other=404,
        owner_code="node_not_connected",
    ),
    ("DELETE", "/api/v1/workspaces/{workspace}/terminals/{terminal}"): Route(
        in_terminal, owner=503, other=404, owner_code="node_not_connected"
    ),
    ("POST", "/api/v1/workspaces/{workspace}/terminals/{terminal}/tickets"): Route(
        in_terminal, owner=503, other=404, owner_code="node_not_connected"
    ),
    # Agents: the built-in catalog is everyone's; added agents and settings are the user's own.
    ("GET", "/api/v1/agents"): Route(
        no_request, owner=200, other=200, shows=lambda o: o.agent_name
    ),
    ("POST", "/api/v1/agents"): Route(
        lambda o: Req(json={"name": "another-agent", "command": ["another-agent", "--acp"]}),
        owner=201,
        other=201,
    ),
    ("GET", "/api/v1/agents/{agent}"): Route(
        of_agent(), owner=200, other=404, shows=lambda o: o.agent_name
    ),
    # Agent names are per user: another user's PUT of the same name adds an agent of their own.
    ("PUT", "/api/v1/agents/{agent}"): Route(
        of_agent({"command": ["replaced-agent", "--acp"]}), owner=200, other=201
    ),
    ("DELETE", "/api/v1/agents/{agent}"): Route(of_agent(), owner=204, other=404),
    ("GET", "/api/v1/agents/{agent}/settings"): Route(of_agent(), owner=200, other=404),
    ("PATCH", "/api/v1/agents/{agent}/settings"): Route(
        of_agent({"model": "a-model"}), owner=200, other=404
    ),
    # Sessions live in the owner's workspace, whose node is not linked.
    ("GET", "/api/v1/sessions"): Route(
        no_request, owner=200, other=200, shows=lambda o: o.session_id
    ),
    ("POST", "/api/v1/sessions"): Route(
        lambda o: Req(json={"workspace": o.workspace_id, "agent": o.agent_name}),
        owner=503,
        other=404,
        owner_code="node_not_connected",
    ),
    ("GET", "/api/v1/sessions/{session}"): Route(
        in_session(), owner=200, other=404, shows=lambda o: o.session_id
    ),
    ("GET", "/api/v1/sessions/{session}/events"): Route(in_session(), owner=200, other=404),
    ("POST", "/api/v1/sessions/{session}/prompts"): Route(
        in_session({"text": "hello"}), owner=503, other=404, owner_code="node_not_connected"
    ),
    ("POST", "/api/v1/sessions/{session}/cancel"): Route(
        in_session(), owner=503, other=404, owner_code="node_not_connected"
    ),
    # With its node gone, stopping a session just records that it stopped.
    ("POST", "/api/v1/sessions/{session}/stop"): Route(
        in_session(), owner=200, other=404, shows=lambda o: o.session_id
    ),
    ("GET", "/api/v1/projects/{project}/pull-requests"): Route(
        lambda o: Req(params={"project": o.project_id}), owner=200, other=404
    ),
    # The owner's session has no project here: nothing to push to, said before the node is asked.
    ("POST", "/api/v1/sessions/{session}/pull-request"): Route(
        in_session({"draft": True}), owner=409, other=404, owner_code="project_gone"
    ),
    ("GET", "/api/v1/sessions/{session}/pull-request"): Route(
        in_session(), owner=404, other=404, owner_code="not_found"
    ),
    ("POST", "/api/v1/sessions/{session}/pull-request/fix"): Route(
        in_session(), owner=404, other=404, owner_code="not_found"
    ),
    # GitHub's deliveries are signed, not signed in; with no App, no secret signs them.
    ("POST", "/api/v1/github/webhooks"): Route(
        lambda o: Req(json={"action": "closed"}, headers={"X-GitHub-Event": "pull_request"}),
        owner=401,
        other=401,
        owner_code="bad_signature",
        public=True,
        bad=lambda o: Req(
            json={}, headers={"X-GitHub-Event": "ping", "X-Hub-Signature-256": "sha256=00"}
        ),
    ),
    ("PUT", "/api/v1/sessions/{session}/mode"): Route(
        in_session({"mode": "plan"}), owner=503, other=404, owner_code="node_not_connected"
    ),
    ("PUT", "/api/v1/sessions/{session}/model"): Route(
        in_session({"model": "fast"}), owner=503, other=404, owner_code="node_not_connected"
    ),
    ("GET", "/api/v1/permission-requests"): Route(
        no_request, owner=200, other=200, shows=lambda o: o.permission_request_id
    ),
    ("POST", "/api/v1/permission-requests/{request}/answer"): Route(
        lambda o: Req(params={"request": o.permission_request_id}, json={"option_id": "allow"}),
        owner=503,
        other=404,
        owner_code="node_not_connected",
    ),
}


def routes_of(app: FastAPI) -> set[RouteKey]:
    paths: dict[str, dict[str, Any]] = app.openapi()["paths"]
    return {
        (method.upper(), path)
        for path, operations in paths.items()
        for method in operations
        if method in HTTP_METHODS
    }


@cache
def documented_routes() -> frozenset[RouteKey]:
    """The routes of an app built only to read its OpenAPI document (no database is opened)."""
    with tempfile.TemporaryDirectory(prefix="corral-openapi-") as data_dir:
        settings = load_settings(
            data_dir=Path(data_dir),
            database_url="sqlite+aiosqlite:///:memory:",
            secret_key=base64.b64encode(os.urandom(32)).decode(),
        )
        return frozenset(routes_of(create_app(settings)))


def matrix() -> list[Any]:
    """A case per route asked by every caller in turn, the owner last; a case per caller for
    a public route. The callers other than the owner must change nothing of the owner's,
    which each is checked for, so they can share one app; the owner's request may change
    anything, so it comes last. A public route's request spends what it names (a login link,
    a join token), so each of its callers gets an app of its own."""
    keys = sorted(documented_routes() | ROUTES.keys(), key=lambda k: (k[1], k[0]))
    cases = []
    for key in keys:
        name = f"{key[0]} {key[1]}"
        route = ROUTES.get(key)
        if route is not None and route.public:
            cases += [pytest.param(key, (p,), id=f"{p}:{name}") for p in PRINCIPALS]
        else:
            cases.append(pytest.param(key, PRINCIPALS, id=name))
    return cases


def assert_error_shape(response: httpx.Response, code: str | None = None) -> None:
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"code", "message", "details"}, body
    assert isinstance(error["code"], str) and error["code"], body
    assert isinstance(error["message"], str) and error["message"], body
    if code is not None:
        assert error["code"] == code, body


def ok(response: httpx.Response, status: int) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def make_owned(app: FastAPI, client: httpx.AsyncClient, owner: ApiUser, repo: str) -> Owned:
    headers = owner.headers
    credential = ok(
        await client.put(
            "/api/v1/credentials/matrix-key",
            json={"kind": "anthropic", "value": "sk-ant-matrix-original"},
            headers=headers,
        ),
        201,
    )
    project = ok(
        await client.post(
            "/api/v1/projects", json={"name": "matrix-project", "repo": repo}, headers=headers
        ),
        201,
    )
    token = ok(
        await client.post("/api/v1/tokens", json={"name": "matrix-token"}, headers=headers), 201
    )
    node = ok(
        await client.post("/api/v1/nodes", json={"name": "matrix-node"}, headers=headers), 201
    )
    agent = ok(
        await client.post(
            "/api/v1/agents",
            json={"name": "matrix-agent", "command": ["matrix-agent"]},
            headers=headers,
        ),
        201,
    )
    invite = ok(
        await client.post(
            "/api/v1/users/invites", json={"name": "matrix-invitee"}, headers=headers
        ),
        201,
    )
    workspace_id = await running_workspace(app, owner, project["id"], node["node"]["id"])
    session_id, request_id = await waiting_session(app, owner, workspace_id, agent["name"])
    return Owned(
        owner_id=owner.id,
        credential_name=credential["name"],
        credential_id=credential["id"],
        project_id=project["id"],
        token_id=token["id"],
        login_link=await owner_login_token(app),
        repo=repo,
        node_id=node["node"]["id"],
        join_token=node["join_token"],
        workspace_id=workspace_id,
        agent_name=agent["name"],
        session_id=session_id,
        permission_request_id=request_id,
        invite_id=invite["id"],
    )


async def running_workspace(app: FastAPI, owner: ApiUser, project_id: str, node_id: str) -> str:
    """A workspace as a node would have made it; no node is linked here to make one."""
    state: AppState = app.state.corral
    workspace_id = new_id("wsp")
    async with state.db() as db:
        db.add(
            Workspace(
                id=workspace_id,
                user_id=owner.id,
                project_id=project_id,
                node_id=node_id,
                name="matrix-workspace",
                branch="main",
                runtime="host",
                state=WorkspaceState.RUNNING,
            )
        )
        await db.commit()
    return workspace_id


async def waiting_session(
    app: FastAPI, owner: ApiUser, workspace_id: str, agent: str
) -> tuple[str, str]:
    """A session waiting for a permission answer, as a node would have reported it."""
    state: AppState = app.state.corral
    session_id, request_id = new_id("ses"), new_id("prm")
    async with state.db() as db:
        db.add(
            AgentSession(
                id=session_id,
                user_id=owner.id,
                workspace_id=workspace_id,
                agent=agent,
                policy="ask",
                state=SessionState.AWAITING_PERMISSION,
                last_seq=0,
            )
        )
        await db.flush()
        db.add(
            PermissionRequest(
                id=request_id,
                session_id=session_id,
                user_id=owner.id,
                state=PermissionState.PENDING,
                tool_call={"toolCallId": "t1", "title": "Write notes.txt", "kind": "edit"},
                options=[
                    {"optionId": "allow", "name": "Allow", "kind": "allow_once"},
                    {"optionId": "reject", "name": "Reject", "kind": "reject_once"},
                ],
            )
        )
        await db.commit()
    return session_id, request_id


async def revoked_owner_token(client: httpx.AsyncClient, owner: ApiUser) -> str:
    created = ok(
        await client.post("/api/v1/tokens", json={"name": "soon-revoked"}, headers=owner.headers),
        201,
    )
    revoked = ok(await client.delete(f"/api/v1/tokens/{created['id']}", headers=owner.headers), 200)
    assert revoked["revoked_at"] is not None
    token: str = created["token"]
    return token


async def owner_view(client: httpx.AsyncClient, owner: ApiUser) -> dict[str, Any]:
    """Everything of the owner's that another caller might change, as the owner sees it."""
    view: dict[str, Any] = {}
    for path in ("credentials", "projects", "tokens", "users", "activity", "nodes", "workspaces"):
        response = await client.get(f"/api/v1/{path}?limit=200", headers=owner.headers)
        page = ok(response, 200)
        assert page["next_cursor"] is None, f"the owner has over 200 {path}"
        view[path] = page["items"]
    for token in view["tokens"]:
        token.pop("last_used_at")  # the owner's own requests to look here may touch it
    return view


def assert_no_owner_ids(
    response: httpx.Response, owned: Owned, request_url: str, body: Any
) -> None:
    """The answer mentions none of the owner's objects, except what the caller sent itself."""
    sent = request_url + json.dumps(body)
    leaked = [marker for marker in owned.ids if marker not in sent and marker in response.text]
    assert not leaked, f"the answer holds the owner's {leaked}: {response.text}"


def test_every_documented_route_has_a_row() -> None:
    missing = sorted(documented_routes() - ROUTES.keys())
    assert not missing, "routes in the OpenAPI document with no row in ROUTES: " + ", ".join(
        f"{method} {path}" for method, path in missing
    )


def test_every_row_is_a_documented_route() -> None:
    stale = sorted(ROUTES.keys() - documented_routes())
    assert not stale, "rows in ROUTES for routes the OpenAPI document lacks: " + ", ".join(
        f"{method} {path}" for method, path in stale
    )


@pytest.mark.parametrize(("key", "principals"), matrix())
async def test_route_answers_caller(
    key: RouteKey,
    principals: tuple[str, ...],
    app: FastAPI,
    client: httpx.AsyncClient,
    owner: ApiUser,
    other_user: ApiUser,
    git_url: str,
) -> None:
    method, template = key
    if key not in ROUTES:
        pytest.fail(f"{method} {template} is in the OpenAPI document but has no row in ROUTES")
    if key not in routes_of(app):
        pytest.fail(f"ROUTES has {method} {template}, which the app does not serve")
    route = ROUTES[key]
    owned = await make_owned(app, client, owner, git_url)
    callers = {
        "anonymous": {},
        "revoked_token": {"Authorization": f"Bearer {await revoked_owner_token(client, owner)}"},
        "other_user": other_user.headers,
        "owner": owner.headers,
    }
    # Taken once: no caller before the owner may change it, which each is checked for. (A
    # public route's callers each have an app of their own, and may change things.)
    before = None if route.public else await owner_view(client, owner)
    for principal in principals:
        try:
            await answers_caller(route, key, principal, callers[principal], client, owned)
        except AssertionError as exc:
            raise AssertionError(f"asked by {principal}: {exc}") from exc
        if principal != "owner" and before is not None:
            after = await owner_view(client, owner)
            assert after == before, f"{principal}, not the owner, changed the owner's objects"


async def answers_caller(
    route: Route,
    key: RouteKey,
    principal: str,
    headers: dict[str, str],
    client: httpx.AsyncClient,
    owned: Owned,
) -> None:
    method, template = key

    async def send(request: Req) -> httpx.Response:
        url = template.format(**request.params)
        assert "{" not in url, f"path parameters left unfilled: {url}"
        return await client.request(
            method, url, json=request.json, headers={**headers, **request.headers}
        )

    if route.public:
        assert route.bad is not None, f"{method} {template} is public but has no bad request"
        rejected = await send(route.bad(owned))
        assert rejected.status_code == 401, rejected.text
        assert_error_shape(rejected)
        accepted = await send(route.build(owned))
        expected = route.other if principal == "other_user" else route.owner
        assert accepted.status_code == expected, accepted.text
        return

    request = route.build(owned)
    if principal == "owner":
        response = await send(request)
        assert response.status_code == route.owner, response.text
        if route.owner_code is not None:
            assert_error_shape(response, route.owner_code)
        if route.shows is not None:
            assert route.shows(owned) in response.text
        return

    response = await send(request)
    if principal == "other_user":
        assert response.status_code == route.other, response.text
        if response.status_code >= 400:
            assert_error_shape(response, {403: "owner_only", 404: "not_found"}.get(route.other))
    else:
        assert response.status_code == 401, response.text
        code = "token_revoked" if principal == "revoked_token" else "unauthenticated"
        assert_error_shape(response, code)
        assert response.headers.get("www-authenticate") == "Bearer"
    assert_no_owner_ids(response, owned, str(response.request.url), request.json)
