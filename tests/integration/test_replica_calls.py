"""The routes replicas call on each other take only calls signed with the replicas' key.

An attacker who reaches a replica directly (not through the balancer, which should hide
`/internal/`) must not be able to drive a node or open a terminal through them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import MutableMapping
from typing import Any

import httpx
from fastapi import FastAPI

from corral.control.replicas.forwarding import FORWARD_PATH
from corral.control.replicas.signing import SIGNATURE_HEADER, ReplicaSigner
from corral.control.replicas.terminalpipe import CLOSE_LINK_MOVED, TERMINAL_PATH
from tests.support.api import app_state

NODE = "nod_00000000000000000000000000"
TARGET = FORWARD_PATH.format(node_id=NODE)
BODY = json.dumps({"method": "workspace.list", "params": {}, "timeout_seconds": 5}).encode()


async def test_forwarded_requests_need_the_replicas_signature(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    state = app_state(app)
    if state.replicas is None:  # SQLite: one process, no replicas, no such routes
        answer = await client.post(TARGET, content=BODY)
        assert answer.status_code == 404
        return
    signer = state.replicas.signer
    me = state.replicas.replica_id
    forged = ReplicaSigner(b"k" * 32, "rep_other")
    expired = ReplicaSigner(signer._key, "rep_other", ttl_seconds=-60)
    replayed = signer.sign("POST", TARGET, me, BODY)
    answer = await client.post(TARGET, content=BODY, headers=replayed)
    assert answer.status_code == 200
    refused = {
        "unsigned": {},
        "signed with another key": forged.sign("POST", TARGET, me, BODY),
        "expired": expired.sign("POST", TARGET, me, BODY),
        "signed for another body": signer.sign("POST", TARGET, me, b"{}"),
        "signed for another node": signer.sign(
            "POST", FORWARD_PATH.format(node_id="nod_x"), me, BODY
        ),
        "signed for another replica": signer.sign("POST", TARGET, "rep_other", BODY),
        "played again": replayed,
        "malformed": {SIGNATURE_HEADER: "9999999999.zz"},
    }
    for why, headers in refused.items():
        answer = await client.post(TARGET, content=BODY, headers=headers)
        assert answer.status_code == 401, why
        assert answer.json()["error"]["code"] == "unauthenticated", why
    # Signed: answered with the node link's own response frame (this node is linked nowhere).
    answer = await client.post(TARGET, content=BODY, headers=signer.sign("POST", TARGET, me, BODY))
    assert answer.status_code == 200
    assert answer.json()["error"]["kind"] == "unavailable"


async def _close_code(app: FastAPI, path: str, headers: dict[str, str]) -> int:
    """How the app closes a WebSocket opened at `path`: the ASGI messages, driven directly."""
    scope = {
        "type": "websocket",
        "asgi": {"version": "3.0"},
        "scheme": "ws",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "server": ("testserver", 80),
        "client": ("127.0.0.1", 50000),
        "subprotocols": [],
    }
    incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
    incoming.put_nowait({"type": "websocket.connect"})
    sent: list[MutableMapping[str, Any]] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "websocket.close":
            incoming.put_nowait({"type": "websocket.disconnect", "code": message["code"]})

    await asyncio.wait_for(app(scope, incoming.get, send), 10)
    closed = [m for m in sent if m["type"] == "websocket.close"]
    assert closed, sent
    code: int = closed[0]["code"]
    return code


async def test_a_forwarded_terminal_needs_the_replicas_signature(app: FastAPI) -> None:
    state = app_state(app)
    path = TERMINAL_PATH.format(
        node_id=NODE, workspace_id="wsp_x", terminal_id="trm_00000000000000000000000000"
    )
    forged = {SIGNATURE_HEADER: f"{int(time.time()) + 10}.{'0' * 64}"}
    expected = 4401 if state.replicas is not None else 4404
    assert await _close_code(app, path, forged) == expected
    assert await _close_code(app, path, {}) == expected
    if state.replicas is not None:
        # Signed, for a node not linked here: told to go where the link is.
        signed = state.replicas.signer.sign("GET", path, state.replicas.replica_id)
        assert await _close_code(app, path, signed) == CLOSE_LINK_MOVED
