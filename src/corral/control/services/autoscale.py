"""Asking a provider for a node when a user's workspaces find no room.

A user who set a node template (`PUT /api/v1/providers/default-node`: a provider, size, region
and credential) has one node made from it when one of their workspaces has waited in `pending`
for room longer than `providers.autoscale_wait_seconds`, and none of their nodes is already
being made. The workspace lands on the new node when it joins: placement sees a node with room. The
per-user limits on nodes and spend apply; a refusal becomes the waiting workspace's reason.
"""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select

from corral.control.db.base import utcnow
from corral.control.db.models import Node, User, Workspace
from corral.control.services import leases
from corral.control.services.lifecycle import explain_state
from corral.control.services.provisioning import (
    NodeRequest,
    Provisioning,
    request_node,
)
from corral.errors import CorralError, InvalidInput
from corral.states import NodeState, WorkspaceState

__all__ = ["ask_for_nodes", "clean_template"]

log = logging.getLogger("corral.autoscale")

AUTO_PREFIX = "auto-"
AUTOSCALE_LEASE = "autoscale"
FAILED_AUTO_NODE_PAUSE = timedelta(hours=1)
"""After a node made for a user's waiting workspaces failed, none is made for them this long."""
_MAKING = (NodeState.PENDING.value, NodeState.PROVISIONING.value, NodeState.JOINING.value)


def clean_template(body: dict[str, Any]) -> dict[str, Any]:
    """The stored form of a node template, or `InvalidInput` naming what is missing."""
    provider = body.get("provider")
    if not provider or provider in ("manual", "local"):
        raise InvalidInput(
            "a node template names a provider that makes machines (hetzner, ssh …)",
            details=[{"field": "body.provider"}],
        )
    return {
        key: body.get(key)
        for key in ("provider", "machine_type", "region", "credential", "options")
        if body.get(key) is not None
    }


async def ask_for_nodes(ctx: Provisioning) -> int:
    """One look at users with workspaces waiting for room, by one control plane process at a
    time; returns how many nodes it asked for."""
    seconds = ctx.settings.providers.lease_seconds
    async with leases.hold(ctx.db, AUTOSCALE_LEASE, ctx.holder, seconds=seconds) as got:
        return await _ask_for_nodes(ctx) if got else 0


async def _ask_for_nodes(ctx: Provisioning) -> int:
    now = utcnow()
    wait = timedelta(seconds=ctx.settings.providers.autoscale_wait_seconds)
    asked = 0
    async with ctx.db() as db:
        waiting = (
            await db.scalars(
                select(Workspace).where(
                    Workspace.state == WorkspaceState.PENDING,
                    Workspace.node_id.is_(None),
                    Workspace.created_at <= now - wait,
                )
            )
        ).all()
        by_user: dict[str, list[Workspace]] = {}
        for ws in waiting:
            by_user.setdefault(ws.user_id, []).append(ws)
        for user_id, user_workspaces in by_user.items():
            user = await db.get(User, user_id)
            if user is None or not user.node_template:
                continue
            # One node at a time; and after one of them failed, none for a while: a template
            # that cannot work (a bad token, a size the workspace does not fit) must not
            # make machine after machine.
            making = await db.scalar(
                select(Node.id).where(
                    Node.user_id == user_id,
                    or_(
                        Node.state.in_(_MAKING),
                        and_(
                            Node.name.startswith(AUTO_PREFIX),
                            Node.state == NodeState.ERROR,
                            Node.state_changed_at > now - FAILED_AUTO_NODE_PAUSE,
                        ),
                    ),
                )
            )
            if making is not None:
                continue
            template = dict(user.node_template)
            request = NodeRequest(
                name=f"{AUTO_PREFIX}{user.name}-{secrets.token_hex(2)}"[:64],
                provider=template["provider"],
                machine_type=template.get("machine_type"),
                region=template.get("region"),
                credential=template.get("credential"),
                options=dict(template.get("options") or {}),
            )
            try:
                node = await request_node(db, ctx, user_id, request)
            except CorralError as exc:
                await db.rollback()
                reason = f"no node has room, and making one failed: {exc.message}"
                for ws in user_workspaces:
                    await explain_state(db, ws, reason)
                await db.commit()
                log.warning("could not make a node for %s: %s", user.name, exc.message)
                continue
            for ws in user_workspaces:
                await explain_state(db, ws, f"waiting for node {node.name}, being made for it")
            await db.commit()
            log.info("asked %s for node %s for %s", node.provider, node.name, user.name)
            asked += 1
    return asked
