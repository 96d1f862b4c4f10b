"""Two control plane replicas on one real PostgreSQL, behind one address, serving one node.

The node links to replica A through the balancer; a user works through replica B: a terminal
whose node is linked to A is used by a viewer on B, a session's events reach viewers on both,
and when A is killed mid-turn the node relinks to B, the viewer's terminal goes on, and the
transcript has every event exactly once. Tickets, login links and sign-in limits made on one
replica hold on the other.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.support.nodes import open_viewer, terminal_url
from tests.support.postgres import PostgresServer
from tests.support.processes import corral_env, corral_server, run_cli
from tests.support.replicas import LINKED, SIGN_IN_ATTEMPTS, ReplicaPair, replica_pair
from tests.support.waits import eventually_sync

WAIT_SECONDS = 60.0
FLOOD = 2000


@pytest.fixture
def replicas(tmp_path: Path, postgres: PostgresServer) -> Iterator[ReplicaPair]:
    with replica_pair(tmp_path, postgres) as pair:
        yield pair


async def _collect(url: str, headers: dict[str, str], into: list[dict[str, Any]]) -> None:
    """Every event a session viewer gets, in order, until its socket closes."""
    try:
        async with connect(url, additional_headers=headers, max_size=None, proxy=None) as socket:
            async for frame in socket:
                message = json.loads(frame)
                into.extend(message["events"])
    except (ConnectionClosed, OSError):
        return


def _seqs(events: list[dict[str, Any]]) -> list[int]:
    return [e["seq"] for e in events]


async def test_two_replicas_serve_one_fleet_and_lose_nothing_when_one_dies(
    replicas: ReplicaPair,
) -> None:
    a, b, api_a, api_b = replicas.a, replicas.b, replicas.api_a, replicas.api_b
    ws = replicas.workspace_id
    a.wait_for_log(WAIT_SECONDS, **LINKED)  # the node is on A; B reaches it through A
    assert not any(r.get("message") == LINKED["message"] for r in b.log_records())

    # A terminal on the node (linked to A), made through B, opened by a viewer on B with a
    # ticket A issued.
    terminal = api_b.post(f"/workspaces/{ws}/terminals", {"cols": 100, "rows": 30})
    ticket = api_a.post(f"/workspaces/{ws}/terminals/{terminal['id']}/tickets")
    async with open_viewer(
        terminal_url(b.url, ws, terminal["id"], ticket=ticket["ticket"])
    ) as view:
        [(output, status)] = await view.run(["echo through-$((6*7))"])
        assert (output.strip(), status) == ("through-42", 0)

        # A session, watched from both replicas.
        session = api_b.post("/sessions", {"workspace": ws, "agent": "scripted"})
        sid = session["id"]
        eventually_sync(
            lambda: api_b.get(f"/sessions/{sid}")["state"] == "idle",
            "the session idle",
            wait_seconds=WAIT_SECONDS,
        )
        path = f"/api/v1/sessions/{sid}/events/ws"
        on_a: list[dict[str, Any]] = []
        on_b: list[dict[str, Any]] = []
        watchers = [
            asyncio.create_task(
                _collect(a.url.replace("http", "ws", 1) + path, api_a.headers, on_a)
            ),
            asyncio.create_task(
                _collect(b.url.replace("http", "ws", 1) + path, api_b.headers, on_b)
            ),
        ]
        try:
            prompt = api_b.post(
                f"/sessions/{sid}/prompts", {"text": f"flood {FLOOD} rate=500"}, expect=202
            )
            for _ in range(int(WAIT_SECONDS * 10)):
                if len(on_a) > 100 and len(on_b) > 100:
                    break
                await asyncio.sleep(0.1)
            assert len(on_a) > 100 and len(on_b) > 100, (len(on_a), len(on_b))

            # Mid-turn, A dies: the node relinks through the balancer to B.
            os.kill(a.pid, signal.SIGKILL)
            a.stop()
            b.wait_for_log(WAIT_SECONDS, **LINKED)
            ended = None
            for _ in range(int(WAIT_SECONDS * 10)):
                ended = next(
                    (
                        e
                        for e in on_b
                        if e["kind"] == "turn_end"
                        and e["payload"]["prompt_id"] == prompt["prompt_id"]
                    ),
                    None,
                )
                if ended is not None:
                    break
                await asyncio.sleep(0.1)
            assert ended is not None, f"the turn did not end for B's viewer: {len(on_b)} events"
            assert ended["payload"]["stop_reason"] == "end_turn"
        finally:
            for watcher in watchers:
                watcher.cancel()
            await asyncio.gather(*watchers, return_exceptions=True)

        # Stored: every event once, in order; every chunk of the flood exactly once.
        stored: list[dict[str, Any]] = []
        while True:
            page = api_b.get(f"/sessions/{sid}/events?after={len(stored)}&limit=5000")["items"]
            stored += page
            if len(page) < 5000:
                break
        assert _seqs(stored) == list(range(1, len(stored) + 1))
        chunks = [
            int(e["payload"]["content"]["text"].split()[0])
            for e in stored
            if e["kind"] == "update" and e["payload"].get("sessionUpdate") == "agent_message_chunk"
        ]
        assert chunks == list(range(FLOOD))
        # B's viewer got each of them once, in order, across the kill; A's got a gapless start.
        assert _seqs(on_b) == _seqs(stored[: len(on_b)])
        assert _seqs(on_b)[-1] >= ended["seq"]
        assert _seqs(on_a) == list(range(1, len(on_a) + 1))

        # The terminal's viewer on B goes on, now through B's own link, with no gap or repeat.
        [(output, status)] = await view.run(["echo after-$((6*8))"])
        assert (output.strip(), status) == ("after-48", 0)
        await view.drain()
        seen = bytes(view.output)

    # A fresh viewer from the start of the terminal's output sees what the first one saw.
    ticket = api_b.post(f"/workspaces/{ws}/terminals/{terminal['id']}/tickets")
    url = terminal_url(b.url, ws, terminal["id"], ticket=ticket["ticket"], offset=0)
    async with open_viewer(url) as fresh:
        await fresh.read_at_least(len(seen))
        assert bytes(fresh.output[: len(seen)]) == seen


def test_sign_in_limits_and_tickets_hold_across_replicas(replicas: ReplicaPair) -> None:
    a, b, api_b = replicas.a, replicas.b, replicas.api_b
    ws = replicas.workspace_id
    terminal = api_b.post(f"/workspaces/{ws}/terminals", {"cols": 80, "rows": 24})
    ticket = api_b.post(f"/workspaces/{ws}/terminals/{terminal['id']}/tickets")["ticket"]

    async def attach(base: str) -> int | None:
        url = terminal_url(base, ws, terminal["id"], ticket=ticket)
        async with connect(url, proxy=None) as socket:
            try:
                first = await asyncio.wait_for(socket.recv(), WAIT_SECONDS)
            except ConnectionClosed as exc:
                return exc.rcvd.code if exc.rcvd else None
            assert json.loads(first)["type"] == "attached"
            return 0

    # Used once on A, the ticket does not open a second socket on B.
    assert asyncio.run(attach(a.url)) == 0
    assert asyncio.run(attach(b.url)) == 4401

    # Failed sign-ins on A count on B.
    with httpx.Client(trust_env=False) as client:
        for _ in range(SIGN_IN_ATTEMPTS):
            wrong = client.post(f"{a.url}/api/v1/auth/exchange", json={"token": "x" * 43})
            assert wrong.status_code == 401, wrong.text
        refused = client.post(f"{b.url}/api/v1/auth/exchange", json={"token": "x" * 43})
    assert refused.status_code == 429, refused.text
    assert "too many failed sign-in attempts" in refused.json()["error"]["message"]


def test_a_replica_with_another_secret_key_refuses_to_start(
    tmp_path: Path, postgres: PostgresServer
) -> None:
    """Its credentials would not open, and the others would refuse its signed calls: it says
    so in one line naming the live replica, and exits, while the live one serves on."""

    def env(name: str) -> dict[str, str]:
        return corral_env(
            tmp_path / f"{name}-home",
            CORRAL_DATABASE_URL=database_url,
            CORRAL_SECRET_KEY=base64.b64encode(os.urandom(32)).decode(),
        )

    database_url = postgres.create_database()
    with corral_server(tmp_path / "a", env("a")) as a:
        refused = run_cli("serve", "--data-dir", str(tmp_path / "b"), "--port", "0", env=env("b"))
        a.wait_healthy(WAIT_SECONDS)  # still serving

    assert refused.returncode != 0 and "Traceback" not in refused.stderr, refused.stderr
    errors = [
        record["message"]
        for record in map(json.loads, refused.stderr.splitlines())
        if record["level"] == "error"
    ]
    assert errors[0].startswith("cannot start: replica "), errors
    assert "uses another secret key" in errors[0] and "CORRAL_SECRET_KEY" in errors[0]
