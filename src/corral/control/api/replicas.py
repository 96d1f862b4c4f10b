"""Routes the replicas call on each other (`corral.control.replicas`), not part of the API.

Each takes only calls signed with the replicas' shared key; without replicas they are not found.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Request, WebSocket
from fastapi.responses import Response
from pydantic import ValidationError

from corral.control.api.errors import close_for_error, close_reason
from corral.control.relay import TerminalRelay
from corral.control.replicas.directory import LinkDirectory
from corral.control.replicas.forwarding import FORWARD_PATH, ForwardedRequest, answer_forwarded
from corral.control.replicas.signing import SIGNATURE_HEADER
from corral.control.replicas.terminalpipe import CLOSE_LINK_MOVED, TERMINAL_PATH
from corral.control.schemas.fields import TerminalId
from corral.control.state import AppState
from corral.errors import CorralError, InvalidInput, NotFound

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
log = logging.getLogger("corral.replicas")


def _directory(state: AppState) -> LinkDirectory:
    if state.replicas is None:
        raise NotFound("not found")
    return state.replicas


@router.post(FORWARD_PATH)
async def forwarded_request(node_id: str, request: Request) -> Response:
    """A node request another replica forwards, made on this replica's link to the node."""
    state: AppState = request.app.state.corral
    directory = _directory(state)
    body = await request.body()
    directory.signer.verify(request.headers.get(SIGNATURE_HEADER), "POST", request.url.path, body)
    try:
        forwarded = ForwardedRequest.model_validate_json(body)
    except ValidationError:
        raise InvalidInput("a malformed forwarded request") from None
    answer = await answer_forwarded(state.node_registry.local(node_id), forwarded)
    return Response(answer.model_dump_json(), media_type="application/json")


@router.websocket(TERMINAL_PATH)
async def forwarded_terminal(
    websocket: WebSocket,
    node_id: str,
    workspace_id: str,
    terminal_id: TerminalId,
    offset: Annotated[int | None, Query(ge=0)] = None,
) -> None:
    """A viewer's terminal, whose socket another replica holds: relayed here, on this replica's
    link to the node; closed with `CLOSE_LINK_MOVED` when the link is not (or no longer) here."""
    state: AppState = websocket.app.state.corral
    target = websocket.url.path + (f"?{websocket.url.query}" if websocket.url.query else "")
    try:
        # Checked before the upgrade: an unsigned caller gets no WebSocket at all (403).
        _directory(state).signer.verify(websocket.headers.get(SIGNATURE_HEADER), "GET", target)
    except CorralError as exc:
        log.warning("refused a terminal call: %s", exc.message)
        await close_for_error(websocket, exc)
        return
    await websocket.accept()
    try:
        if state.node_registry.local(node_id) is None:
            await websocket.close(CLOSE_LINK_MOVED, "the node is not linked here")
            return
        relay = TerminalRelay(
            websocket,
            state.node_registry,
            node_id=node_id,
            workspace_id=workspace_id,
            terminal_id=terminal_id,
            relink_grace_seconds=state.settings.nodes.relink_grace_seconds,
            offset=offset,
        )
        if await relay.run():
            await websocket.close(CLOSE_LINK_MOVED, close_reason("the node linked elsewhere"))
    except CorralError as exc:
        await close_for_error(websocket, exc)
