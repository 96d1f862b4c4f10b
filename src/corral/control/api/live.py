"""The live-updates WebSocket: tells a browser which of its lists changed, so it refetches them
instead of polling (see `corral.control.changes`)."""

from __future__ import annotations

import asyncio
import contextlib
import json

from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import until_disconnected, websocket_user
from corral.control.state import AppState
from corral.errors import PermissionDenied, Unauthenticated
from corral.protocol.viewer import CLOSE_UNAUTHORIZED

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
        with state.change_feed.subscribe(user_id) as subscription:
            await websocket.send_text('{"type":"ready"}')
            listener = asyncio.create_task(until_disconnected(websocket))
            try:
                while True:
                    taker = asyncio.create_task(subscription.take())
                    done, _ = await asyncio.wait(
                        {taker, listener}, return_when=asyncio.FIRST_COMPLETED
                    )
                    if listener in done:
                        taker.cancel()
                        return
                    await asyncio.sleep(COALESCE_SECONDS)
                    topics = taker.result() | subscription.take_nowait()
                    await websocket.send_text(
                        json.dumps({"type": "changed", "topics": sorted(topics)})
                    )
            finally:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect):
                    await listener
    except (Unauthenticated, PermissionDenied) as exc:
        await websocket.close(CLOSE_UNAUTHORIZED, exc.message[:120])
    except WebSocketDisconnect:
        return
