"""Placement's pass over the pending workspaces: each, oldest first, is put on a node by
`placement.choose`, claimed, and sent to its node as `workspace.create`; the others keep
waiting, with the reason why as their state's reason. `reconcilers.place_workspaces_forever`
runs a pass every `placement.interval_seconds`, and at once when woken (a new workspace, a
node that links or reports, a workspace that stops or goes).

Two control plane processes may run passes at the same time: a workspace leaves `pending` only
through `lifecycle.claim_transition`, a conditional update, so exactly one of them sends it to
a node; and each process places only on the nodes linked to it, so two never spend one node's
room at once. A per-user limit could be overstepped by one when two processes place the same
user's workspaces in the same instant.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import Node, Project, User, UserRole, Workspace
from corral.control.nodelink.registry import NodeRegistry
from corral.control.services import activity, gitaccess, runtimes, workspaces
from corral.control.services.lifecycle import claim_transition, explain_state
from corral.control.services.placement import (
    Ask,
    NodeOffer,
    Placement,
    Unplaced,
    choose,
    user_at_limit,
)
from corral.errors import CorralError
from corral.protocol.messages import WorkspaceLimits, WorkspaceSpec
from corral.settings import PlacementSettings
from corral.states import NodeState, WorkspaceState

__all__ = ["node_offers", "place_pending"]

log = logging.getLogger("corral.placement")

_W = WorkspaceState


def _limits(stored: dict[str, Any]) -> WorkspaceLimits:
    try:
        return WorkspaceLimits.model_validate(stored or {})
    except ValueError:  # written by hand, say: it asks for the node's defaults
        return WorkspaceLimits()


async def node_offers(db: AsyncSession, registry: NodeRegistry) -> dict[str, NodeOffer]:
    """Every node that is not deleted, with its room as placement counts it."""
    nodes: Sequence[Node] = (
        await db.scalars(select(Node).where(Node.state != NodeState.DELETED))
    ).all()
    held_cpus: dict[str, float] = {}
    held_memory: Counter[str] = Counter()
    held: Counter[str] = Counter()
    placed = await db.execute(
        select(Workspace.node_id, Workspace.state, Workspace.limits).where(
            Workspace.node_id.in_([node.id for node in nodes]),
            Workspace.state.not_in([_W.PENDING.value, _W.DELETED.value]),
        )
    )
    for node_id, state, stored in placed:
        held[node_id] += 1
        if state in workspaces.HOLDING:
            limits = _limits(stored)
            held_cpus[node_id] = held_cpus.get(node_id, 0.0) + (limits.cpus or 0.0)
            held_memory[node_id] += limits.memory_bytes or 0
    owners = set(await db.scalars(select(User.id).where(User.role == UserRole.OWNER)))
    offers = {}
    for node in nodes:
        capacity, usage = node.capacity, node.usage
        offers[node.id] = NodeOffer(
            id=node.id,
            name=node.name,
            state=node.state,
            linked=registry.is_connected(node.id),
            reported=bool(capacity),
            runtimes=runtimes.node_runtimes(node),
            cpus=float(capacity.get("allocatable_cpus", capacity.get("cpus", 0))),
            memory_bytes=int(
                capacity.get("allocatable_memory_bytes", capacity.get("memory_bytes", 0))
            ),
            free_memory_bytes=int(capacity.get("memory_bytes", 0))
            - int(usage.get("memory_bytes", 0)),
            held_cpus=held_cpus.get(node.id, 0.0),
            held_memory_bytes=held_memory[node.id],
            workspaces=held[node.id],
            private_to=None if node.user_id in owners else node.user_id,
        )
    return offers


async def _running_by_user(db: AsyncSession) -> Counter[str]:
    rows = await db.execute(
        select(Workspace.user_id, func.count())
        .where(Workspace.state.in_([s.value for s in workspaces.HOLDING]))
        .group_by(Workspace.user_id)
    )
    return Counter({user_id: int(count) for user_id, count in rows})


def _ask(ws: Workspace) -> Ask:
    return Ask(
        runtime=None if ws.runtime == runtimes.AUTO else ws.runtime,
        limits=_limits(ws.limits),
        node_id=ws.node_id,
        user_id=ws.user_id,
    )


async def place_pending(
    db: AsyncSession, registry: NodeRegistry, settings: PlacementSettings
) -> int:
    """One pass: place what can be placed, explain the rest; return how many were placed."""
    pending = (
        await db.scalars(
            select(Workspace)
            .where(Workspace.state == _W.PENDING)
            .order_by(Workspace.created_at, Workspace.id)
        )
    ).all()
    if not pending:
        return 0
    offers = await node_offers(db, registry)
    running = await _running_by_user(db)
    placed = 0
    for ws in pending:
        outcome = user_at_limit(
            running[ws.user_id], settings.max_running_workspaces_per_user
        ) or choose(
            _ask(ws),
            list(offers.values()),
            max_workspaces_per_node=settings.max_workspaces_per_node,
        )
        if isinstance(outcome, Unplaced):
            if await explain_state(db, ws, outcome.reason):
                await db.commit()
            continue
        if await _place(db, registry, ws, outcome):
            offers[outcome.node.id] = outcome.node.holding(outcome)
            running[ws.user_id] += 1
            placed += 1
    return placed


async def _place(
    db: AsyncSession, registry: NodeRegistry, ws: Workspace, placement: Placement
) -> bool:
    """Claim the workspace for the node and send it there; False if another process (or its
    user's delete) moved it first, or its project is gone."""
    project = await db.get(Project, ws.project_id) if ws.project_id else None
    if project is None:
        if await claim_transition(db, "workspace", ws, _W.ERROR, reason="its project was deleted"):
            await db.commit()
        return False
    # Everything the node is sent is read before the claim: once the workspace is `creating`,
    # its request follows without waiting on the database again.
    owner = await db.get(User, ws.user_id)
    identity = await gitaccess.identity_for(db, owner) if owner is not None else None
    node = await db.get(Node, placement.node.id)
    if node is None or not await claim_transition(db, "workspace", ws, _W.CREATING):
        await db.commit()  # ends the transaction of a claim that found the row moved on
        return False
    ws.node_id, ws.runtime = node.id, placement.runtime
    ws.limits = placement.limits.model_dump()
    activity.record(
        db,
        "workspace.placed",
        ws,
        user_id=ws.user_id,
        actor_id=None,
        details={
            "node": node.name,
            "runtime": placement.runtime,
            **placement.limits.model_dump(exclude_none=True),
        },
    )
    await db.commit()
    log.info(
        "placed workspace %s on node %s (%s)",
        ws.name,
        node.name,
        placement.runtime,
        extra={"workspace_id": ws.id, "node_id": node.id},
    )
    spec = WorkspaceSpec(
        id=ws.id,
        name=ws.name,
        repo=project.repo,
        branch=ws.branch,
        runtime=placement.runtime,
        limits=placement.limits,
        identity=identity,
        authenticated=project.github_installation_id is not None
        or project.git_credential_id is not None,
    )
    try:
        await workspaces.ask_node(db, registry, ws, node, "workspace.create", spec)
    except CorralError as exc:  # the workspace is in error with the node's message
        log.warning("node %s refused workspace %s: %s", node.name, ws.name, exc.message)
    return True
