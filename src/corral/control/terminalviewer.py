"""One viewer's terminal socket, served leg by leg wherever the node's link is.

A leg is a relay (`corral.control.relay`) when this replica holds the node's link, or a pipe to
the replica that holds it (`corral.control.replicas.terminalpipe`). When the link moves (the
node relinked elsewhere, or the replica holding it died), the next leg starts from the byte
after the last one the viewer got, on the same socket: the viewer sees no gap and no repeat.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from fastapi import WebSocket

from corral.control.api.closecodes import CLOSE_TRY_AGAIN
from corral.control.relay import TerminalRelay
from corral.control.replicas.terminalpipe import TerminalPipe
from corral.control.state import AppState

__all__ = ["serve_terminal"]

LEG_PAUSE_SECONDS = 0.25
"""Between legs: a replica that just died still holds its nodes for a moment, as others see it."""


async def serve_terminal(
    websocket: WebSocket,
    state: AppState,
    *,
    node_id: str,
    workspace_id: str,
    terminal_id: str,
    offset: int | None,
    on_input: Callable[[], None] | None,
) -> None:
    registry, directory = state.node_registry, state.replicas
    grace = state.settings.nodes.relink_grace_seconds
    announce = True
    give_up_at = time.monotonic() + grace  # legs that attach nothing do not go on forever
    while time.monotonic() < give_up_at:
        holder = directory.holder(node_id) if directory is not None else None
        leg: TerminalRelay | TerminalPipe
        if registry.local(node_id) is None and holder is not None and directory is not None:
            leg = TerminalPipe(
                websocket,
                holder,
                directory.signer,
                node_id=node_id,
                workspace_id=workspace_id,
                terminal_id=terminal_id,
                offset=offset,
                announce=announce,
                on_input=on_input,
            )
        else:
            leg = TerminalRelay(
                websocket,
                registry,
                node_id=node_id,
                workspace_id=workspace_id,
                terminal_id=terminal_id,
                relink_grace_seconds=grace,
                offset=offset,
                on_input=on_input,
                announce=announce,
            )
        if not await leg.run():
            return
        offset = leg.resume_offset
        if leg.attached:
            announce, give_up_at = False, time.monotonic() + grace
        await asyncio.sleep(LEG_PAUSE_SECONDS)
        if await registry.wait_for(node_id, max(0.0, give_up_at - time.monotonic())) is None:
            break
    await websocket.close(CLOSE_TRY_AGAIN, "the node is not reachable")
