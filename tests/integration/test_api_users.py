"""The owner's view of accounts: pending invites listed and revoked."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from corral.control.db.base import utcnow
from corral.control.db.models import LoginLink
from corral.control.services import auth
from tests.support.api import ApiUser, app_state, exchange


async def send_invite(client: httpx.AsyncClient, owner: ApiUser, name: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/users/invites", json={"name": name}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    invite: dict[str, Any] = response.json()
    return invite


def link_token(invite: dict[str, Any]) -> str:
    return str(invite["invite_url"].split("token=", 1)[1])


async def pending(client: httpx.AsyncClient, owner: ApiUser) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/users/invites", headers=owner.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_pending_invites_are_listed_without_their_links(client, owner):
    alice = await send_invite(client, owner, "alice")
    bob = await send_invite(client, owner, "bob")
    await exchange(client, link_token(alice))

    response = await client.get("/api/v1/users/invites", headers=owner.headers)
    listed = response.json()["items"]
    assert [(i["id"], i["user"]["name"], i["user"]["state"]) for i in listed] == [
        (bob["id"], "bob", "invited")
    ]
    assert listed[0]["expires_at"] == bob["expires_at"]
    assert listed[0]["revoked_at"] is None
    assert link_token(bob) not in response.text
    assert "invite_url" not in listed[0]


async def test_an_expired_invite_is_not_pending(app, client, owner):
    invite = await send_invite(client, owner, "late")
    async with app_state(app).db() as db:
        await db.execute(
            update(LoginLink)
            .where(LoginLink.id == invite["id"])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        await db.commit()
    assert await pending(client, owner) == []


async def test_a_revoked_invite_link_signs_nobody_in(app, client, owner):
    invite = await send_invite(client, owner, "bob")
    revoked = await client.delete(f"/api/v1/users/invites/{invite['id']}", headers=owner.headers)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    assert revoked.json()["user"]["name"] == "bob"
    assert await pending(client, owner) == []

    api = await client.post("/api/v1/auth/exchange", json={"token": link_token(invite)})
    assert api.status_code == 401
    assert api.json()["error"]["code"] == "link_revoked"
    assert "has been revoked" in api.json()["error"]["message"]
    browser = await client.post("/auth/login", data={"token": link_token(invite)})
    assert browser.status_code == 401
    assert "corral_session" not in browser.headers.get("set-cookie", "")

    feed = await client.get("/api/v1/activity", headers=owner.headers)
    assert [(e["action"], e["object_name"]) for e in feed.json()["items"][:2]] == [
        ("user.invite_revoked", "bob"),
        ("user.invited", "bob"),
    ]

    # Revoking it again changes nothing; a new invite for the name works.
    again = await client.delete(f"/api/v1/users/invites/{invite['id']}", headers=owner.headers)
    assert again.status_code == 200
    assert again.json()["revoked_at"] == revoked.json()["revoked_at"]
    renewed = await send_invite(client, owner, "bob")
    assert (await exchange(client, link_token(renewed))).name == "bob"


async def test_sending_an_invite_again_revokes_the_old_link(client, owner):
    first = await send_invite(client, owner, "carol")
    second = await send_invite(client, owner, "carol")
    assert [i["id"] for i in await pending(client, owner)] == [second["id"]]
    old = await client.post("/api/v1/auth/exchange", json={"token": link_token(first)})
    assert old.json()["error"]["code"] == "link_revoked"


async def test_an_accepted_invite_cannot_be_revoked(client, owner):
    invite = await send_invite(client, owner, "dave")
    dave = await exchange(client, link_token(invite))
    response = await client.delete(f"/api/v1/users/invites/{invite['id']}", headers=owner.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invite_used"
    assert "corral users disable dave" in response.json()["error"]["message"]
    assert (await client.get("/api/v1/me", headers=dave.headers)).status_code == 200


async def test_revoking_an_unknown_invite_answers_404(client, owner):
    response = await client.delete(
        "/api/v1/users/invites/lnk_00000000000000000000000000", headers=owner.headers
    )
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no invite 'lnk_00000000000000000000000000'"


async def test_invites_is_not_a_name_a_user_can_take(client, owner):
    response = await client.post(
        "/api/v1/users/invites", json={"name": "invites"}, headers=owner.headers
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [{"field": "body.name"}]


async def test_a_disabled_users_tokens_cookies_and_links_stop_working_until_enabled(
    app, client, owner
):
    invite = await send_invite(client, owner, "mallory")
    mallory = await exchange(client, link_token(invite))
    browser = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    )
    async with browser:
        async with app_state(app).db() as db:
            user = await auth.active_user(db, mallory.id)
            link = await auth.create_login_link(db, user, ttl_seconds=60)
        signed_in = await browser.post("/auth/login", data={"token": link})
        assert signed_in.status_code == 303
        assert (await browser.get("/api/v1/me")).status_code == 200
        async with app_state(app).db() as db:
            unused_link = await auth.create_login_link(db, user, ttl_seconds=60)

        disabled = await client.post("/api/v1/users/mallory/disable", headers=owner.headers)
        assert disabled.status_code == 200, disabled.text
        assert (disabled.json()["state"], disabled.json()["sessions"]) == ("disabled", [])

        for response in (
            await client.get("/api/v1/me", headers=mallory.headers),
            await browser.get("/api/v1/me"),
        ):
            assert response.status_code == 401
            assert response.json()["error"] == {
                "code": "user_disabled",
                "message": "this account is disabled",
                "details": None,
            }
        refused = await client.post("/api/v1/auth/exchange", json={"token": unused_link})
        assert refused.json()["error"]["code"] == "user_disabled"
        # Nor does an invite to her name bring her back.
        reinvited = await client.post(
            "/api/v1/users/invites", json={"name": "mallory"}, headers=owner.headers
        )
        assert reinvited.status_code == 409
        listed = await client.get("/api/v1/users", headers=owner.headers)
        assert {u["name"]: u["state"] for u in listed.json()["items"]}["mallory"] == "disabled"

        # The owner's feed says so, as it says whom the owner invited.
        feed = await client.get("/api/v1/activity", headers=owner.headers)
        assert ("user.disabled", "mallory") in [
            (e["action"], e["object_name"]) for e in feed.json()["items"]
        ]

        enabled = await client.post("/api/v1/users/mallory/enable", headers=owner.headers)
        assert enabled.status_code == 200, enabled.text
        assert enabled.json()["state"] == "active"
        assert (await client.get("/api/v1/me", headers=mallory.headers)).status_code == 200
        assert (await browser.get("/api/v1/me")).status_code == 200


async def test_the_owner_cannot_be_disabled(client, owner):
    for ref in ("owner", owner.id):
        response = await client.post(f"/api/v1/users/{ref}/disable", headers=owner.headers)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "owner_cannot_be_disabled"
    assert (await client.get("/api/v1/me", headers=owner.headers)).status_code == 200


async def test_an_invited_user_is_not_disabled_but_has_their_invite_revoked(client, owner):
    await send_invite(client, owner, "nora")
    response = await client.post("/api/v1/users/nora/disable", headers=owner.headers)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "user_not_joined"
    assert "corral users revoke-invite nora" in response.json()["error"]["message"]


async def test_a_member_cannot_disable_or_look_up_anyone(client, owner, other_user):
    for method, path, action in (
        ("POST", "/api/v1/users/owner/disable", "disable users"),
        ("POST", "/api/v1/users/other/enable", "enable users"),
        ("GET", "/api/v1/users/owner", "see other users"),
    ):
        response = await client.request(method, path, headers=other_user.headers)
        assert response.status_code == 403
        assert response.json()["error"]["message"] == f"only the owner can {action}"


async def test_an_unknown_user_answers_404(client, owner):
    response = await client.post("/api/v1/users/nobody/disable", headers=owner.headers)
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "no user named 'nobody'"
