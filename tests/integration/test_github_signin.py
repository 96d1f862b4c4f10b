"""GitHub from the browser's side, against the fake GitHub: the owner makes the App through the
manifest flow, people sign in with GitHub (or are refused), connect GitHub to their account, and
see the repositories the App is installed on that their GitHub account may use."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI

from corral.control import web as corral_web
from corral.control.db.models import User
from corral.control.services import auth
from corral.settings import Settings, load_settings
from tests.support.api import ApiUser, app_state, invite, owner_login_token
from tests.support.github_fake import FakeGitHub, fake_github

PUBLIC = "http://testserver"
PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY")


@pytest.fixture
def github(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    for name in PROXY_VARIABLES:  # Corral's client must reach the fake on 127.0.0.1 directly
        monkeypatch.delenv(name, raising=False)
    with fake_github(tmp_path / "github") as fake:
        fake.add_user("octo", name="Octo Cat", orgs=["acme"])
        fake.signed_in = "octo"
        yield fake


@pytest.fixture
def settings(tmp_path: Path, database_url: str, github: FakeGitHub) -> Settings:
    return load_settings(
        data_dir=tmp_path / "data",
        database_url=database_url,
        public_url=PUBLIC,
        github={
            "web_url": github.web_url,
            "api_url": github.api_url,
            "allowed_organizations": ["acme"],
        },
    )


@pytest.fixture
async def web(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """GitHub's side of the browser: the fake's pages, over the network."""
    async with httpx.AsyncClient(trust_env=False, timeout=30) as client:
        yield client


def browser(app: FastAPI) -> httpx.AsyncClient:
    """A browser of its own (its own cookies) on Corral."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC)


def local(url: str) -> str:
    """A Corral URL GitHub redirected to, as a path and query for the ASGI client."""
    assert url.startswith(PUBLIC), url
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def signed_in_as_owner(app: FastAPI, client: httpx.AsyncClient) -> None:
    response = await client.post("/auth/login", data={"token": await owner_login_token(app)})
    assert response.status_code == 303, response.text


async def signed_in_browser(app: FastAPI, client: httpx.AsyncClient, user_id: str) -> None:
    state = app_state(app)
    async with state.db() as db:
        user = await db.get(User, user_id)
        assert user is not None
        token = await auth.create_login_link(db, user, ttl_seconds=60)
    response = await client.post("/auth/login", data={"token": token})
    assert response.status_code == 303, response.text


async def make_app(app: FastAPI, client: httpx.AsyncClient, web: httpx.AsyncClient) -> None:
    """The manifest flow, as the web app and GitHub drive the owner's browser through it."""
    csrf = {"X-CSRF-Token": client.cookies["corral_csrf"]}
    started = await client.post("/api/v1/github/app/manifest", json={}, headers=csrf)
    assert started.status_code == 200, started.text
    body = started.json()
    form = {"manifest": json.dumps(body["manifest"])}
    at_github = await web.post(body["url"], data=form)
    assert at_github.status_code == 302, at_github.text
    back = await client.get(local(at_github.headers["location"]))
    assert back.status_code == 303, back.text
    assert back.headers["location"] == "/settings?github=created#github"


async def through_github(
    client: httpx.AsyncClient, web: httpx.AsyncClient, start: str
) -> httpx.Response:
    """Open `start` on Corral, let GitHub approve, and come back: Corral's answer."""
    leaving = await client.get(start)
    assert leaving.status_code == 302, leaving.text
    approved = await web.get(leaving.headers["location"])
    assert approved.status_code == 302, approved.text
    return await client.get(local(approved.headers["location"]))


@pytest.fixture
async def owner_browser(
    app: FastAPI, client: httpx.AsyncClient, web: httpx.AsyncClient
) -> httpx.AsyncClient:
    """The owner's browser, signed in, after making the App."""
    await signed_in_as_owner(app, client)
    await make_app(app, client, web)
    return client


async def test_the_owner_makes_the_app_from_a_manifest(
    owner_browser: httpx.AsyncClient, github: FakeGitHub, owner: ApiUser, client: httpx.AsyncClient
) -> None:
    made = github.app
    assert made is not None
    manifest = made.manifest
    assert manifest["redirect_url"] == f"{PUBLIC}/github/app/created"
    assert manifest["callback_urls"] == [f"{PUBLIC}/auth/github/callback"]
    assert manifest["hook_attributes"] == {
        "url": f"{PUBLIC}/api/v1/github/webhooks",
        "active": True,
    }
    assert manifest["default_permissions"]["contents"] == "write"
    assert len(manifest["name"]) <= 34

    status = await client.get("/api/v1/github", headers=owner.headers)
    assert status.status_code == 200
    body = status.json()
    assert body["configured"] and body["oauth"]
    assert body["app"]["slug"] == made.slug
    assert body["app"]["install_url"] == f"{github.web_url}/apps/{made.slug}/installations/new"
    assert body["account"] is None
    for secret in (made.client_secret, made.webhook_secret, made.pem):
        assert secret not in status.text

    again = await client.post("/api/v1/github/app/manifest", json={}, headers=owner.headers)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "github_app_exists"


async def test_a_member_cannot_make_the_app_and_a_forged_return_is_refused(
    app: FastAPI, client: httpx.AsyncClient, other_user: ApiUser
) -> None:
    refused = await client.post("/api/v1/github/app/manifest", json={}, headers=other_user.headers)
    assert refused.status_code == 403

    await signed_in_as_owner(app, client)
    forged = await client.get("/github/app/created", params={"code": "x", "state": "forged"})
    assert forged.status_code == 401
    assert "not valid" in forged.text
    assert "Traceback" not in forged.text


async def test_a_linked_user_signs_in_with_github(
    app: FastAPI, owner_browser: httpx.AsyncClient, web: httpx.AsyncClient, owner: ApiUser
) -> None:
    linked = await through_github(owner_browser, web, "/auth/github/login?link=1")
    assert linked.status_code == 303, linked.text
    assert linked.headers["location"] == "/settings#github"
    status = await owner_browser.get("/api/v1/github")
    assert status.json()["account"] == {"login": "octo", "name": "Octo Cat"}

    async with browser(app) as fresh:
        answer = await through_github(fresh, web, "/auth/github/login?next=/projects")
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/projects"
        me = await fresh.get("/api/v1/me")
        assert me.status_code == 200
        assert me.json()["name"] == "owner"

    activity = await owner_browser.get("/api/v1/activity", params={"limit": 50})
    actions = [(e["action"], e["details"]) for e in activity.json()["items"]]
    assert ("github.linked", {"login": "octo"}) in actions
    assert ("user.signed_in", {"method": "github", "login": "octo"}) in actions


async def test_an_unknown_github_user_is_refused_with_what_to_do(
    app: FastAPI, owner_browser: httpx.AsyncClient, web: httpx.AsyncClient, github: FakeGitHub
) -> None:
    github.add_user("stranger", orgs=["elsewhere"])
    github.signed_in = "stranger"
    async with browser(app) as fresh:
        answer = await through_github(fresh, web, "/auth/github/login")
        assert answer.status_code == 401
        assert "no Corral account is linked to the GitHub user stranger" in answer.text
        assert "ask the owner for an invite" in answer.text
        assert "corral_session" not in answer.headers.get("set-cookie", "")
        assert (await fresh.get("/api/v1/me")).status_code == 401


async def test_a_member_of_an_allowed_organization_gets_an_account(
    app: FastAPI, owner_browser: httpx.AsyncClient, web: httpx.AsyncClient, github: FakeGitHub
) -> None:
    github.add_user("Newbie", orgs=["ACME"])
    github.signed_in = "Newbie"
    async with browser(app) as fresh:
        answer = await through_github(fresh, web, "/auth/github/login?next=//evil.example/")
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/"  # never off this site
        me = (await fresh.get("/api/v1/me")).json()
        assert (me["name"], me["role"], me["state"]) == ("newbie", "member", "active")
        status = (await fresh.get("/api/v1/github")).json()
        assert status["account"]["login"] == "Newbie"


async def test_a_forged_or_foreign_state_is_refused(
    app: FastAPI, owner_browser: httpx.AsyncClient, web: httpx.AsyncClient
) -> None:
    async with browser(app) as victim:
        forged = await victim.get("/auth/github/callback", params={"code": "c", "state": "x.y.z"})
        assert forged.status_code == 401
        assert "not valid" in forged.text

        # An attacker starts a sign-in in their browser and has the victim's open the return.
        async with browser(app) as attacker:
            leaving = await attacker.get("/auth/github/login")
        approved = await web.get(leaving.headers["location"])
        answer = await victim.get(local(approved.headers["location"]))
        assert answer.status_code == 401
        assert "not started in this browser" in answer.text
        assert "code=" not in answer.text
        assert (await victim.get("/api/v1/me")).status_code == 401


async def test_connecting_github_needs_a_signed_in_browser(
    app: FastAPI, owner_browser: httpx.AsyncClient
) -> None:
    async with browser(app) as fresh:
        refused = await fresh.get("/auth/github/login", params={"link": "1"})
    assert refused.status_code == 401
    assert "sign in to Corral first" in refused.text


async def test_sign_in_says_when_github_is_not_set_up(app: FastAPI) -> None:
    async with browser(app) as fresh:
        refused = await fresh.get("/auth/github/login")
        assert refused.status_code == 422
        assert "GitHub is not set up here" in refused.text
        assert (await fresh.get("/auth/github/available")).json() == {"available": False}


async def test_repositories_are_those_the_users_github_account_may_use(
    app: FastAPI,
    owner_browser: httpx.AsyncClient,
    web: httpx.AsyncClient,
    github: FakeGitHub,
    client: httpx.AsyncClient,
    owner: ApiUser,
) -> None:
    github.add_repo("acme/widgets")
    github.add_repo("acme/secret")
    github.add_repo("acme/public", private=False)
    github.install_app("acme", ["widgets", "public"], users=["octo"])
    member = await invite(client, owner, "mona")

    not_linked = await client.get("/api/v1/github/repositories", headers=member.headers)
    assert not_linked.status_code == 422
    assert not_linked.json()["error"]["code"] == "github_not_linked"

    await through_github(owner_browser, web, "/auth/github/login?link=1")
    listed = await client.get("/api/v1/github/repositories", headers=owner.headers)
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [i["full_name"] for i in items] == ["acme/public", "acme/widgets"]
    assert items[1]["private"] is True
    assert items[1]["clone_url"] == f"{github.web_url}/acme/widgets.git"

    # Mona's GitHub account sees no installation, and none of the owner's repositories.
    github.add_user("mona")
    github.signed_in = "mona"
    async with browser(app) as hers:
        await signed_in_browser(app, hers, member.id)
        linked = await through_github(hers, web, "/auth/github/login?link=1")
        assert linked.status_code == 303, linked.text
    theirs = await client.get("/api/v1/github/repositories", headers=member.headers)
    assert theirs.status_code == 200, theirs.text
    assert theirs.json()["items"] == []


async def test_unlinking_and_forgetting_the_app(
    owner_browser: httpx.AsyncClient,
    web: httpx.AsyncClient,
    client: httpx.AsyncClient,
    owner: ApiUser,
) -> None:
    await through_github(owner_browser, web, "/auth/github/login?link=1")
    unlinked = await client.delete("/api/v1/github/account", headers=owner.headers)
    assert unlinked.status_code == 204
    assert (await client.get("/api/v1/github", headers=owner.headers)).json()["account"] is None

    forgotten = await client.delete("/api/v1/github/app", headers=owner.headers)
    assert forgotten.status_code == 204
    status = (await client.get("/api/v1/github", headers=owner.headers)).json()
    assert status["configured"] is False and status["app"] is None
    assert (await client.delete("/api/v1/github/app", headers=owner.headers)).status_code == 404


async def test_a_disabled_users_github_sign_in_is_refused(
    app: FastAPI,
    owner_browser: httpx.AsyncClient,
    web: httpx.AsyncClient,
    github: FakeGitHub,
    client: httpx.AsyncClient,
    owner: ApiUser,
) -> None:
    member = await invite(client, owner, "mona")
    github.add_user("mona")
    github.signed_in = "mona"
    async with browser(app) as hers:
        await signed_in_browser(app, hers, member.id)
        await through_github(hers, web, "/auth/github/login?link=1")
    disabled = await client.post("/api/v1/users/mona/disable", headers=owner.headers)
    assert disabled.status_code == 200, disabled.text

    async with browser(app) as fresh:
        answer = await through_github(fresh, web, "/auth/github/login")
        assert answer.status_code == 401
        assert "this account is disabled" in answer.text
        assert (await fresh.get("/api/v1/me")).status_code == 401


async def test_the_signed_out_page_offers_github_once_it_is_set_up(
    app: FastAPI,
    owner_browser: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.setattr(corral_web, "INDEX", tmp_path / "not-built.html")
    async with browser(app) as fresh:
        home = await fresh.get("/")
        assert 'href="/auth/github/login"' in home.text
        assert (await fresh.get("/auth/github/available")).json() == {"available": True}
