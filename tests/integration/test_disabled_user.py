"""Disabling a member cuts off everything they had open, through real processes: their
WebSockets (a terminal, a session's events, live updates) close at once with 4401 and a
reason, a terminal ticket they got before stops working, and their agent session is stopped
and listed for the owner. Enabling them lets their token in again."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from corral.control.api.closecodes import CLOSE_UNAUTHORIZED
from tests.support.nodes import Api, Closed, close_of, exchange, terminal_url
from tests.support.sessions import (
    SCRIPTED_AGENT,
    SCRIPTED_AGENT_RUNTIME_SETTINGS,
    SessionSite,
    session_site,
)
from tests.support.waits import eventually, eventually_sync

WAIT_SECONDS = 60.0
CUT_OFF = (CLOSE_UNAUTHORIZED, "your account has been disabled")


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SessionSite]:
    base = tmp_path_factory.mktemp("disabled")
    node_env = {"CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS}
    with session_site(base, {"README.md": "x\n"}, node_env=node_env, wait_seconds=60.0) as site:
        yield site


def member(site: SessionSite, name: str, git_url: str) -> tuple[Api, dict[str, Any]]:
    """An invited member with a project, a running workspace on the node and an agent."""
    invite = site.api.post("/users/invites", {"name": name})
    api = Api(site.url, exchange(site.url, invite["invite_url"]))
    api.post("/projects", {"name": f"{name}-project", "repo": git_url})
    workspace = api.post("/workspaces", {"project": f"{name}-project", "name": f"{name}-ws"})
    eventually_sync(
        lambda: api.get(f"/workspaces/{workspace['id']}")["state"] == "running",
        "the member's workspace running",
        wait_seconds=WAIT_SECONDS,
        context=lambda: json.dumps(api.get(f"/workspaces/{workspace['id']}")),
    )
    api.post("/agents", {"name": "scripted", "command": [sys.executable, str(SCRIPTED_AGENT)]})
    return api, workspace


def ws_url(site: SessionSite, path: str) -> str:
    return site.url.replace("http://", "ws://", 1) + f"/api/v1{path}"


async def opened(url: str, headers: dict[str, str]) -> ClientConnection:
    """A WebSocket that the server serves: it has sent its first frame."""
    connection = await connect(url, additional_headers=headers, proxy=None, ping_interval=None)
    await asyncio.wait_for(connection.recv(), WAIT_SECONDS)
    return connection


async def closed(connection: ClientConnection) -> Closed:
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                await connection.recv()
    except ConnectionClosed as exc:
        return Closed.of(exc)


async def test_disabling_a_member_closes_their_sockets_and_stops_their_session(
    site: SessionSite, git_url: str
) -> None:
    mallory, workspace = member(site, "mallory", git_url)
    try:
        await cut_off_and_let_back(site, mallory, workspace)
    finally:
        mallory.close()


async def cut_off_and_let_back(site: SessionSite, mallory: Api, workspace: dict[str, Any]) -> None:
    session = mallory.post("/sessions", {"workspace": workspace["id"], "agent": "scripted"})
    await eventually(
        lambda: mallory.get(f"/sessions/{session['id']}")["state"] == "idle",
        "the member's session idle",
        wait_seconds=WAIT_SECONDS,
        context=lambda: json.dumps(mallory.get(f"/sessions/{session['id']}")),
    )
    terminal = mallory.post(f"/workspaces/{workspace['id']}/terminals", {"cols": 80, "rows": 24})
    ticket = mallory.post(f"/workspaces/{workspace['id']}/terminals/{terminal['id']}/tickets")
    sockets = [
        await opened(ws_url(site, "/live/ws"), mallory.headers),
        await opened(ws_url(site, f"/sessions/{session['id']}/events/ws"), mallory.headers),
        await opened(terminal_url(site.url, workspace["id"], terminal["id"]), mallory.headers),
    ]

    disabled = site.api.post("/users/mallory/disable", expect=200)

    ends = await asyncio.gather(*map(closed, sockets))
    for connection in sockets:
        await connection.close()
    assert [(c.code, c.reason) for c in ends] == [CUT_OFF] * 3
    assert disabled["state"] == "disabled"
    assert [
        (s["id"], s["agent"], s["workspace"], s["node"], s["stop_error"])
        for s in disabled["sessions"]
    ] == [(session["id"], "scripted", "mallory-ws", "n1", None)]
    assert "title" not in disabled["sessions"][0]  # what it says is not the owner's to read

    refused = mallory.request("GET", "/me")
    assert (refused.status_code, refused.json()["error"]["code"]) == (401, "user_disabled")
    # A ticket got before is no way back in, nor is the token on a new socket.
    url = terminal_url(site.url, workspace["id"], terminal["id"], ticket=ticket["ticket"])
    ticketed, _ = await close_of(url)
    assert (ticketed.code, ticketed.reason) == (CLOSE_UNAUTHORIZED, "this account is disabled")
    live, _ = await close_of(ws_url(site, "/live/ws"), headers=mallory.headers)
    assert (live.code, live.reason) == (CLOSE_UNAUTHORIZED, "this account is disabled")
    await eventually(
        lambda: site.api.get("/users/mallory")["sessions"] == [],
        "the member's session stopped",
        wait_seconds=WAIT_SECONDS,
        context=lambda: json.dumps(site.api.get("/users/mallory")),
    )

    enabled = site.api.post("/users/mallory/enable", expect=200)
    assert enabled["state"] == "active"
    assert mallory.get("/me")["name"] == "mallory"
    assert mallory.get(f"/sessions/{session['id']}")["state"] == "stopped"
