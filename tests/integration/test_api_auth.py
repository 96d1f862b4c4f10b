"""Signing in: login links, browser sessions with CSRF, API tokens, invites, rate limiting."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from corral.control import web
from corral.control.db.base import utcnow
from corral.control.db.models import LoginLink
from corral.control.services.tokens import hash_token
from tests.support.api import app_state, exchange, invite, owner_login_token


async def test_a_login_link_works_once(app, client):
    token = await owner_login_token(app)
    first = await client.post("/api/v1/auth/exchange", json={"token": token})
    assert first.status_code == 201
    assert first.json()["user"]["role"] == "owner"
    assert first.json()["token"]["token"].startswith("crl_")

    again = await client.post("/api/v1/auth/exchange", json={"token": token})
    assert again.status_code == 401
    assert again.json()["error"]["code"] == "link_used"
    assert "already been used" in again.json()["error"]["message"]


async def test_an_expired_link_says_it_expired(app, client):
    token = await owner_login_token(app)
    async with app_state(app).db() as db:
        await db.execute(
            update(LoginLink)
            .where(LoginLink.token_hash == hash_token(token))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await db.commit()
    response = await client.post("/api/v1/auth/exchange", json={"token": token})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "link_expired"
    assert "expired" in response.json()["error"]["message"]


async def test_a_wrong_link_says_it_is_not_valid(client):
    response = await client.post("/api/v1/auth/exchange", json={"token": "crllink_nonsense"})
    assert response.status_code == 401
    assert response.json()["error"] == {
        "code": "link_invalid",
        "message": "this login link is not valid",
        "details": None,
    }


async def test_browser_sign_in_sets_a_safe_session_cookie(app, client, monkeypatch, tmp_path):
    monkeypatch.setattr(web, "INDEX", tmp_path / "not-built.html")  # the page without a build
    token = await owner_login_token(app)
    page = await client.get("/auth/login", params={"token": token})
    assert page.status_code == 200
    assert 'method="post"' in page.text  # a prefetch of the link does not use it up

    response = await client.post("/auth/login", data={"token": token})
    assert response.status_code == 303
    cookies = response.headers.get_list("set-cookie")
    session = next(c for c in cookies if c.startswith("corral_session="))
    assert "HttpOnly" in session
    assert "SameSite=lax" in session
    assert "Secure" not in session  # served over plain http here
    csrf = next(c for c in cookies if c.startswith("corral_csrf="))
    assert "HttpOnly" not in csrf

    me = await client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["name"] == "owner"
    home = await client.get("/")
    assert "Signed in as <strong>owner</strong>" in home.text


async def test_session_cookie_is_secure_over_https(app):
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://corral.test") as client:
        response = await client.post("/auth/login", data={"token": await owner_login_token(app)})
    session = next(c for c in response.headers.get_list("set-cookie") if "corral_session=" in c)
    assert "Secure" in session


async def test_browser_writes_need_the_csrf_token(app, client):
    await client.post("/auth/login", data={"token": await owner_login_token(app)})
    body = {"name": "ci"}

    refused = await client.post("/api/v1/tokens", json=body)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "csrf_failed"

    wrong = await client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": "nope"})
    assert wrong.status_code == 403

    csrf = client.cookies["corral_csrf"]
    allowed = await client.post("/api/v1/tokens", json=body, headers={"X-CSRF-Token": csrf})
    assert allowed.status_code == 201


async def test_a_wrong_browser_link_answers_401_with_the_reason(client):
    response = await client.post("/auth/login", data={"token": "crllink_wrong"})
    assert response.status_code == 401
    assert "this login link is not valid" in response.text
    assert "corral_session" not in response.headers.get("set-cookie", "")


async def test_logout_ends_the_browser_session(app, client):
    await client.post("/auth/login", data={"token": await owner_login_token(app)})
    csrf = client.cookies["corral_csrf"]
    session_cookie = client.cookies["corral_session"]
    response = await client.post("/api/v1/auth/logout", headers={"X-CSRF-Token": csrf})
    assert response.status_code == 204

    client.cookies.set("corral_session", session_cookie)
    me = await client.get("/api/v1/me")
    assert me.status_code == 401


async def test_logout_with_a_token_revokes_it(client, owner):
    assert (await client.post("/api/v1/auth/logout", headers=owner.headers)).status_code == 204
    response = await client.get("/api/v1/me", headers=owner.headers)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_revoked"


async def test_tokens_are_shown_once_listed_without_secret_and_revocable(client, owner):
    created = await client.post("/api/v1/tokens", json={"name": "ci"}, headers=owner.headers)
    assert created.status_code == 201
    secret = created.json()["token"]
    ci_headers = {"Authorization": f"Bearer {secret}"}
    assert (await client.get("/api/v1/me", headers=ci_headers)).status_code == 200

    listed = await client.get("/api/v1/tokens", headers=owner.headers)
    assert secret not in listed.text
    entry = next(t for t in listed.json()["items"] if t["name"] == "ci")
    assert entry["last4"] == secret[-4:]
    assert entry["last_used_at"] is not None

    revoked = await client.delete(f"/api/v1/tokens/{entry['id']}", headers=owner.headers)
    assert revoked.status_code == 200
    assert revoked.json()["revoked_at"] is not None
    after = await client.get("/api/v1/me", headers=ci_headers)
    assert after.status_code == 401
    assert after.json()["error"]["message"] == "the API token has been revoked"


async def test_a_malformed_authorization_header_is_refused(client):
    response = await client.get("/api/v1/me", headers={"Authorization": "Basic abc"})
    assert response.status_code == 401
    assert "Bearer" in response.json()["error"]["message"]


async def test_invited_user_joins_once_and_cannot_manage_users(client, owner):
    response = await client.post(
        "/api/v1/users/invites", json={"name": "alice"}, headers=owner.headers
    )
    assert response.status_code == 201
    assert response.json()["user"]["state"] == "invited"
    link_token = response.json()["invite_url"].split("token=")[1]

    alice = await exchange(client, link_token)
    me = await client.get("/api/v1/me", headers=alice.headers)
    assert (me.json()["name"], me.json()["role"], me.json()["state"]) == (
        "alice",
        "member",
        "active",
    )
    reused = await client.post("/api/v1/auth/exchange", json={"token": link_token})
    assert reused.status_code == 401

    forbidden = await client.post(
        "/api/v1/users/invites", json={"name": "bob"}, headers=alice.headers
    )
    assert forbidden.status_code == 403
    users = await client.get("/api/v1/users", headers=owner.headers)
    assert {u["name"] for u in users.json()["items"]} == {"owner", "alice"}


@pytest.mark.parametrize("name", ["", "Alice", "a b", "-x", "x" * 65])
async def test_invite_names_are_validated(client, owner, name):
    response = await client.post(
        "/api/v1/users/invites", json={"name": name}, headers=owner.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "body.name"


async def test_inviting_a_taken_name_conflicts(client, owner):
    await invite(client, owner, "alice")
    response = await client.post(
        "/api/v1/users/invites", json={"name": "alice"}, headers=owner.headers
    )
    assert response.status_code == 409


async def test_failed_login_attempts_are_rate_limited(app, client):
    limit = app_state(app).settings.auth.login_attempts_per_window
    for _ in range(limit):
        response = await client.post("/api/v1/auth/exchange", json={"token": "crllink_guess"})
        assert response.status_code == 401
    blocked = await client.post("/api/v1/auth/exchange", json={"token": "crllink_guess"})
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    # Even a valid link waits: the limit is on the address, not on the guess.
    valid = await client.post("/api/v1/auth/exchange", json={"token": await owner_login_token(app)})
    assert valid.status_code == 429


async def test_a_link_used_by_racing_requests_signs_in_once(app, client):
    token = await owner_login_token(app)
    responses = await asyncio.gather(
        *(client.post("/api/v1/auth/exchange", json={"token": token}) for _ in range(5))
    )
    assert sorted(r.status_code for r in responses) == [201, 401, 401, 401, 401]


@pytest.mark.parametrize(
    "headers", [{"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}]
)
async def test_another_site_cannot_post_a_login_link(app, client, headers):
    token = await owner_login_token(app)
    response = await client.post("/auth/login", data={"token": token}, headers=headers)
    assert response.status_code == 403
    assert "corral_session" not in response.headers.get("set-cookie", "")
    # The link was not used up by the refused attempt.
    assert (await client.post("/api/v1/auth/exchange", json={"token": token})).status_code == 201


async def test_an_unused_invite_can_be_sent_again(client, owner):
    first = await client.post(
        "/api/v1/users/invites", json={"name": "alice"}, headers=owner.headers
    )
    second = await client.post(
        "/api/v1/users/invites", json={"name": "alice"}, headers=owner.headers
    )
    assert second.status_code == 201
    assert second.json()["user"]["id"] == first.json()["user"]["id"]
    old = first.json()["invite_url"].split("token=")[1]
    new = second.json()["invite_url"].split("token=")[1]
    assert (await client.post("/api/v1/auth/exchange", json={"token": old})).status_code == 401
    assert (await client.post("/api/v1/auth/exchange", json={"token": new})).status_code == 201
    again = await client.post(
        "/api/v1/users/invites", json={"name": "alice"}, headers=owner.headers
    )
    assert again.status_code == 409  # alice has joined: the name is hers
