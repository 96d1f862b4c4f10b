"""Terminals of a workspace: made and kept by its node, asked for over the node link.

Viewers reach a terminal through a ticket (`corral.control.terminaltickets`) and the relay
(`corral.control.relay`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import Project
from corral.control.nodelink.registry import NodeRegistry
from corral.control.services import workspaces
from corral.protocol.messages import (
    Empty,
    TerminalCreate,
    TerminalInfo,
    TerminalList,
    TerminalQuery,
    TerminalRef,
)

__all__ = ["create_terminal", "delete_terminal", "list_terminals"]


async def create_terminal(
    db: AsyncSession,
    registry: NodeRegistry,
    user_id: str,
    workspace_ref: str,
    *,
    cols: int,
    rows: int,
) -> TerminalInfo:
    workspace, link = await workspaces.running_with_link(db, registry, user_id, workspace_ref)
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
    workspace, link = await workspaces.running_with_link(db, registry, user_id, workspace_ref)
    found = await link.call("terminal.list", TerminalQuery(workspace_id=workspace.id), TerminalList)
    return found.terminals


async def delete_terminal(
    db: AsyncSession, registry: NodeRegistry, user_id: str, workspace_ref: str, terminal_id: str
) -> None:
    workspace, link = await workspaces.running_with_link(db, registry, user_id, workspace_ref)
    await link.call(
        "terminal.delete", TerminalRef(workspace_id=workspace.id, terminal_id=terminal_id), Empty
    )
