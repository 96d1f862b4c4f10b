"""Terminals of a workspace: made and kept by its node; reached through short-lived tickets.

A browser cannot set headers on a WebSocket upgrade, so besides the session cookie a terminal
WebSocket accepts a ticket: single use, valid 60 s, bound to one user, workspace and terminal.
Tickets live in memory, as the terminal relay itself does (one control plane process).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import Node, Project, Workspace
from corral.control.nodelink.connection import NodeConnection
from corral.control.nodelink.registry import NodeRegistry
from corral.control.services import workspaces
from corral.errors import Conflict, Unauthenticated
from corral.protocol.messages import (
    Empty,
    TerminalCreate,
    TerminalInfo,
    TerminalList,
    TerminalQuery,
    TerminalRef,
)
from corral.states import WorkspaceState

__all__ = [
    "TICKET_TTL_SECONDS",
    "TerminalTickets",
    "create_terminal",
    "delete_terminal",
    "list_terminals",
    "node_for",
]

TICKET_TTL_SECONDS = 60
MAX_TICKETS = 10_000


async def node_for(
    db: AsyncSession,
    registry: NodeRegistry,
    user_id: str,
    workspace_ref: str,
    *,
    wait_seconds: float = 0,
) -> tuple[Workspace, NodeConnection]:
    """The user's running workspace and the link to its node, waiting up to `wait_seconds` for
    a node that is relinking (after a control plane restart, viewers come back first)."""
    workspace = await workspaces.get_workspace(db, user_id, workspace_ref)
    node = await db.get(Node, workspace.node_id) if workspace.node_id else None
    if node is None:
        raise Conflict(f"workspace {workspace.name} has no node", reason="node_gone")
    link = registry.connection(node.id)
    if link is None and wait_seconds > 0:
        link = await registry.wait_for(node.id, wait_seconds)
        await db.refresh(workspace)
    if workspace.state != WorkspaceState.RUNNING:
        raise Conflict(
            f"workspace {workspace.name} is {workspace.state.value}, not running",
            reason="workspace_not_running",
        )
    return workspace, link or registry.get(node.id, node.name)


async def create_terminal(
    db: AsyncSession,
    registry: NodeRegistry,
    user_id: str,
    workspace_ref: str,
    *,
    cols: int,
    rows: int,
) -> TerminalInfo:
    workspace, link = await node_for(db, registry, user_id, workspace_ref)
    project = await db.get(Project, workspace.project_id) if workspace.project_id else None
    info = await link.call(
        "terminal.create",
        TerminalCreate(
            workspace_id=workspace.id, env=project.env if project else {}, cols=cols, rows=rows
        ),
        TerminalInfo,
    )
    return info


async def list_terminals(
    db: AsyncSession, registry: NodeRegistry, user_id: str, workspace_ref: str
) -> list[TerminalInfo]:
    workspace, link = await node_for(db, registry, user_id, workspace_ref)
    found = await link.call("terminal.list", TerminalQuery(workspace_id=workspace.id), TerminalList)
    return found.terminals


async def delete_terminal(
    db: AsyncSession, registry: NodeRegistry, user_id: str, workspace_ref: str, terminal_id: str
) -> None:
    workspace, link = await node_for(db, registry, user_id, workspace_ref)
    await link.call(
        "terminal.delete", TerminalRef(workspace_id=workspace.id, terminal_id=terminal_id), Empty
    )


@dataclass(frozen=True)
class Ticket:
    user_id: str
    workspace_id: str
    terminal_id: str
    expires_at: float


class TerminalTickets:
    def __init__(self, ttl_seconds: float = TICKET_TTL_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds
        self._tickets: dict[str, Ticket] = {}

    def issue(self, user_id: str, workspace_id: str, terminal_id: str) -> str:
        now = time.monotonic()
        self._tickets = {k: t for k, t in self._tickets.items() if t.expires_at > now}
        if len(self._tickets) >= MAX_TICKETS:
            raise Conflict("too many unused terminal tickets; try again in a minute")
        ticket = secrets.token_urlsafe(32)
        self._tickets[ticket] = Ticket(user_id, workspace_id, terminal_id, now + self.ttl_seconds)
        return ticket

    def redeem(self, ticket: str, terminal_id: str) -> Ticket:
        """Use up a ticket for this terminal; the caller checks its workspace."""
        found = self._tickets.pop(ticket, None)
        if found is None or found.expires_at <= time.monotonic():
            raise Unauthenticated(
                "the terminal ticket is not valid or has expired", reason="ticket_invalid"
            )
        if found.terminal_id != terminal_id:
            raise Unauthenticated(
                "the terminal ticket is for another terminal", reason="ticket_invalid"
            )
        return found
