"""A node's usage as one user may see it.

Nodes are shared, and their heartbeats report the machine's health (memory, disk, load, installed
agents) and counts of everyone's workspaces, terminals and sessions on it. The health is
everyone's to see. The counts are of people's objects: the owner sees the node's own, and a member
sees only theirs, counted here from the database. Terminals live on the node alone and are
reported for the whole machine, so a member's usage has no terminal count rather than the
owner's one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import AgentSession, Node, User, UserRole, Workspace
from corral.states import LIVE_SESSION_STATES, WorkspaceState

__all__ = ["PER_USER_COUNTS", "usage_seen_by"]

PER_USER_COUNTS = frozenset({"workspaces", "terminals", "sessions"})
"""Keys of a heartbeat's usage that count people's objects rather than describe the machine."""


async def usage_seen_by(
    db: AsyncSession, viewer: User, nodes: Sequence[Node]
) -> dict[str, dict[str, Any]]:
    """Each node's usage (by node id) as `viewer` may see it; see the module docstring."""
    if viewer.role == UserRole.OWNER:
        return {node.id: dict(node.usage) for node in nodes}
    ids = [node.id for node in nodes]
    workspaces = await db.execute(
        select(Workspace.node_id, func.count())
        .where(
            Workspace.user_id == viewer.id,
            Workspace.node_id.in_(ids),
            Workspace.state != WorkspaceState.DELETED,
        )
        .group_by(Workspace.node_id)
    )
    sessions = await db.execute(
        select(Workspace.node_id, func.count())
        .join(AgentSession, AgentSession.workspace_id == Workspace.id)
        .where(
            AgentSession.user_id == viewer.id,
            Workspace.node_id.in_(ids),
            AgentSession.state.in_(LIVE_SESSION_STATES),
        )
        .group_by(Workspace.node_id)
    )
    workspace_counts: dict[str | None, int] = {node_id: n for node_id, n in workspaces}
    session_counts: dict[str | None, int] = {node_id: n for node_id, n in sessions}
    seen: dict[str, dict[str, Any]] = {}
    for node in nodes:
        usage = {key: value for key, value in node.usage.items() if key not in PER_USER_COUNTS}
        if node.usage:  # a node that never reported shows no usage to anyone
            usage["workspaces"] = workspace_counts.get(node.id, 0)
            usage["sessions"] = session_counts.get(node.id, 0)
        seen[node.id] = usage
    return seen
