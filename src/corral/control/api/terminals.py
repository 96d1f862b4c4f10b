"""Routes for a workspace's terminals, and the WebSocket that attaches a viewer to one."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query, WebSocket

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db, State, websocket_user, while_allowed
from corral.control.api.errors import close_for_error
from corral.control.db.base import utcnow
from corral.control.schemas.fields import TerminalId, WorkspaceRef
from corral.control.schemas.workspaces import TerminalCreate, TerminalPublic, TerminalTicket
from corral.control.services import terminals, workspaces
from corral.control.state import AppState
from corral.control.terminalviewer import serve_terminal
from corral.errors import (
    CorralError,
    Unauthenticated,
)

router = APIRouter(prefix=f"{API_PREFIX}/workspaces/{{workspace}}/terminals", tags=["terminals"])
log = logging.getLogger("corral.terminals")


@router.get("")
async def list_terminals(
    workspace: WorkspaceRef, user: CurrentUser, db: Db, state: State
) -> list[TerminalPublic]:
    found = await terminals.list_terminals(db, state.node_registry, user.id, workspace)
    return [TerminalPublic.model_validate(t.model_dump()) for t in found]


@router.post("", status_code=201)
async def create_terminal(
    workspace: WorkspaceRef, body: TerminalCreate, user: CurrentUser, db: Db, state: State
) -> TerminalPublic:
    info = await terminals.create_terminal(
        db, state.node_registry, user.id, workspace, cols=body.cols, rows=body.rows
    )
    return TerminalPublic.model_validate(info.model_dump())


@router.delete("/{terminal}", status_code=204)
async def delete_terminal(
    workspace: WorkspaceRef, terminal: TerminalId, user: CurrentUser, db: Db, state: State
) -> None:
    await terminals.delete_terminal(db, state.node_registry, user.id, workspace, terminal)


@router.post("/{terminal}/tickets", status_code=201)
async def create_ticket(
    workspace: WorkspaceRef, terminal: TerminalId, user: CurrentUser, db: Db, state: State
) -> TerminalTicket:
    """A single-use, 60 s ticket for the terminal's WebSocket (browsers cannot set headers)."""
    found, _ = await workspaces.running_with_link(db, state.node_registry, user.id, workspace)
    ticket = await state.terminal_tickets.issue(db, user.id, found.id, terminal)
    url = f"{API_PREFIX}/workspaces/{found.id}/terminals/{terminal}/ws?ticket={ticket}"
    return TerminalTicket(
        ticket=ticket,
        url=url,
        expires_at=utcnow() + timedelta(seconds=state.terminal_tickets.ttl_seconds),
    )


async def _viewer(
    websocket: WebSocket, state: AppState, workspace: str, terminal: TerminalId, ticket: str | None
) -> str:
    """The user id the WebSocket acts for: from a ticket, a bearer token or the cookie."""
    if ticket is not None:
        async with state.db() as db:
            redeemed = await state.terminal_tickets.redeem(db, ticket, terminal)
            found = await workspaces.get_workspace(db, redeemed.user_id, workspace)
        if found.id != redeemed.workspace_id:
            raise Unauthenticated("the terminal ticket is for another workspace")
        return redeemed.user_id
    return await websocket_user(websocket, state, "a terminal")


@router.websocket("/{terminal}/ws")
async def terminal_socket(
    websocket: WebSocket,
    workspace: WorkspaceRef,
    terminal: TerminalId,
    ticket: Annotated[str | None, Query(max_length=100)] = None,
    offset: Annotated[int | None, Query(ge=0, description="Resume after this byte.")] = None,
) -> None:
    state: AppState = websocket.app.state.corral
    await websocket.accept()
    try:
        user_id = await _viewer(websocket, state, workspace, terminal, ticket)
        async with state.db() as db:
            found, link = await workspaces.running_with_link(
                db,
                state.node_registry,
                user_id,
                workspace,
                wait_seconds=state.settings.nodes.relink_grace_seconds,
            )
        with state.presence.watching(found.id):
            await while_allowed(
                websocket,
                state,
                user_id,
                lambda: serve_terminal(
                    websocket,
                    state,
                    node_id=link.node_id,
                    workspace_id=found.id,
                    terminal_id=terminal,
                    offset=offset,
                    on_input=lambda: state.presence.touch(found.id),
                ),
            )
    except CorralError as exc:
        await close_for_error(websocket, exc)
