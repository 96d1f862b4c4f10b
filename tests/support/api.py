"""Signed-in users for API tests, made the way real users are: login links and invites."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import httpx
from fastapi import FastAPI

from corral.control.services import auth
from corral.control.state import AppState

__all__ = ["ApiUser", "invite", "sign_in_owner"]


@dataclass(frozen=True)
class ApiUser:
    id: str
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def app_state(app: FastAPI) -> AppState:
    state: AppState = app.state.corral
    return state


async def owner_login_token(app: FastAPI) -> str:
    """A fresh owner login link's token, as `corral auth link` makes one."""
    state = app_state(app)
    async with state.db() as db:
        owner = await auth.get_owner(db)
        return await auth.create_login_link(db, owner, ttl_seconds=60)


async def exchange(client: httpx.AsyncClient, link_token: str) -> ApiUser:
    response = await client.post("/api/v1/auth/exchange", json={"token": link_token})
    assert response.status_code == 201, response.text
    body = response.json()
    return ApiUser(id=body["user"]["id"], name=body["user"]["name"], token=body["token"]["token"])


async def sign_in_owner(app: FastAPI, client: httpx.AsyncClient) -> ApiUser:
    return await exchange(client, await owner_login_token(app))


async def invite(client: httpx.AsyncClient, owner: ApiUser, name: str) -> ApiUser:
    """Invite `name` as the owner, then accept the invite as the new user would."""
    response = await client.post(
        "/api/v1/users/invites", json={"name": name}, headers=owner.headers
    )
    assert response.status_code == 201, response.text
    link = response.json()["invite_url"]
    return await exchange(client, parse_qs(urlsplit(link).query)["token"][0])
