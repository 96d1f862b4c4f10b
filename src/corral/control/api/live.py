"""The live-updates WebSocket: tells a browser which of its lists changed, so it refetches them
instead of polling (see `corral.control.live.changes`)."""

from __future__ import annotations

import asyncio
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import websocket_user, while_allowed
from corral.control.api.errors import close_for_error
from corral.control.api.pushsockets import watch_client
from corral.control.state import AppState
from corral.errors import CorralError

router = APIRouter(prefix=f"{API_PREFIX}/live", tags=["live"])

COALESCE_SECONDS = 0.25
"""How long notices gather before one frame goes out: a streaming session changes its row on
every batch, and a browser refetching more often than this gains nothing."""


@router.websocket("/ws")
async def live_socket(websocket: WebSocket) -> None:
    """Frames: `{"type": "ready"}` once subscribed (refetch everything: changes while away were
    not kept), then `{"type": "changed", "topics": [...]}`."""
    state: AppState = websocket.app.state.corral
    await websocket.accept()
    try:
        user_id = await websocket_user(websocket, state, "live updates")
        await while_allowed(websocket, state, user_id, lambda: _notify(websocket, state, user_id))
    except CorralError as exc:
        await close_for_error(websocket, exc)
    except WebSocketDisconnect:
        return


async def _notify(websocket: WebSocket, state: AppState, user_id: str) -> None:
    with state.change_feed.subscribe(user_id) as subscription:
        await websocket.send_text('{"type":"ready"}')
        async with watch_client(websocket) as client:
            while True:
                topics = await client.unless_gone(subscription.take())
                if topics is None:
                    return
                await asyncio.sleep(COALESCE_SECONDS)
                topics |= subscription.take_nowait()
                await websocket.send_text(json.dumps({"type": "changed", "topics": sorted(topics)}))
