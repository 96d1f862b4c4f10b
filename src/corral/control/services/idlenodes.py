"""Cloud nodes that run nothing are deleted, so an idle fleet does not cost money.

A cloud node is idle while none of its workspaces is running (or being made, started, rebuilt
or stopped). After `providers.node_idle_minutes` of that it is removed through its provider,
except the `providers.warm_nodes` most recently busy ones of each user, kept for fast starts.
Its stopped workspaces go with it: they move to `error` saying so (their chats stay), which is
the price of not paying for a machine nobody uses. Nodes joined by hand or over SSH are the
user's own machines and are never removed for being idle.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import Node, Workspace
from corral.control.services import activity, workspaces
from corral.control.services.lifecycle import transition
from corral.control.services.provisioning import Provisioning, provider_kind, request_removal
from corral.states import NodeState, WorkspaceState

__all__ = ["release_idle_nodes"]

log = logging.getLogger("corral.idlenodes")

_GONE_WITH_NODE = (WorkspaceState.STOPPED, WorkspaceState.ERROR)


async def release_idle_nodes(ctx: Provisioning, now: datetime) -> int:
    """Note which cloud nodes are idle since when, and remove those idle too long; returns
    how many it removed."""
    minutes = ctx.settings.providers.node_idle_minutes
    cloud = [name for name in ctx.settings.providers.enabled if provider_kind(name, ctx) == "cloud"]
    if not cloud:
        return 0
    async with ctx.db() as db:
        rows = (
            await db.scalars(
                select(Node).where(
                    Node.provider.in_(cloud),
                    Node.state.in_([NodeState.READY.value, NodeState.STALE.value]),
                )
            )
        ).all()
        if not rows:
            return 0
        busy = set(
            await db.scalars(
                select(Workspace.node_id)
                .where(
                    Workspace.node_id.in_([node.id for node in rows]),
                    Workspace.state.in_([s.value for s in workspaces.HOLDING]),
                )
                .group_by(Workspace.node_id)
                .having(func.count() > 0)
            )
        )
        idle_by_user: defaultdict[str, list[Node]] = defaultdict(list)
        for node in rows:
            if node.id in busy:
                node.idle_since = None
                continue
            node.idle_since = node.idle_since or now
            if minutes and now - node.idle_since >= timedelta(minutes=minutes):
                idle_by_user[node.user_id].append(node)
        await db.commit()
        removed = 0
        for user_nodes in idle_by_user.values():
            # Keep the most recently busy ones warm.
            user_nodes.sort(key=lambda node: node.idle_since or now, reverse=True)
            for node in user_nodes[ctx.settings.providers.warm_nodes :]:
                await _remove(db, node, minutes)
                removed += 1
        if removed:
            ctx.on_ready()
        return removed


async def _remove(db: AsyncSession, node: Node, minutes: float) -> None:
    reason = f"its node {node.name} was deleted after {minutes:.0f} min without a running workspace"
    left = (
        await db.scalars(
            select(Workspace).where(
                Workspace.node_id == node.id,
                Workspace.state.in_([s.value for s in _GONE_WITH_NODE]),
            )
        )
    ).all()
    for ws in left:
        await transition(db, "workspace", ws, WorkspaceState.ERROR, reason=reason)
    activity.record(
        db,
        "node.idle_deleted",
        node,
        user_id=node.user_id,
        actor_id=None,
        details={"idle_minutes": minutes},
    )
    await db.commit()
    await request_removal(db, node.user_id, True, node)
    log.info("deleting node %s: idle for %.0f min", node.name, minutes, extra={"node_id": node.id})
