"""Workspaces: placed on a node (`services/placing`), made and run there by the node's runtime,
tracked here.

The control plane owns the record and its state; the node does the work and reports back with
`workspace.state` events, which `apply_node_status` turns into transitions. When a node goes
silent its workspaces move to `error`; when it relinks, `reconcile_node` takes their state from
what the node reports.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import NamedTuple

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import Node, Workspace
from corral.control.nodelink.progress import ProvisioningLogs
from corral.control.nodelink.registry import NodeCalls, NodeRegistry
from corral.control.services import activity, projects, runtimes
from corral.control.services import nodes as node_service
from corral.control.services.git import check_branch
from corral.control.services.lifecycle import claim_transition, transition
from corral.control.services.lookup import find_by_ref
from corral.control.services.names import validate_name
from corral.control.services.pagination import paginate
from corral.control.services.placement import user_at_limit
from corral.errors import Conflict, CorralError
from corral.ids import new_id
from corral.protocol.messages import (
    WorkspaceLimits,
    WorkspaceList,
    WorkspaceRebuild,
    WorkspaceRef,
    WorkspaceSpec,
    WorkspaceStatus,
)
from corral.states import NodeState, WorkspaceState, ensure_transition

__all__ = [
    "HOLDING",
    "LIVE",
    "apply_node_status",
    "ask_node",
    "create_workspace",
    "delete_workspace",
    "ensure_may_run",
    "get_workspace",
    "list_workspaces",
    "mark_node_unreachable",
    "rebuild_workspace",
    "reconcile_node",
    "running_count",
    "running_with_link",
    "start_workspace",
    "stop_workspace",
]

log = logging.getLogger("corral.workspaces")

_W = WorkspaceState
LIVE = (
    _W.PENDING,
    _W.CREATING,
    _W.RUNNING,
    _W.STOPPING,
    _W.STOPPED,
    _W.STARTING,
    _W.REBUILDING,
    _W.ERROR,
)
HOLDING = (_W.CREATING, _W.RUNNING, _W.STARTING, _W.REBUILDING, _W.STOPPING)
"""The states of a workspace that holds the CPUs and memory it requested on its node, and
counts as running for its user's limit; a stopped one holds nothing."""
WAITING_FOR_PLACEMENT = "waiting for a node"


async def _set_state(
    db: AsyncSession,
    ws: Workspace,
    state: WorkspaceState,
    *,
    reason: str | None = None,
    actor_id: str | None = None,
) -> bool:
    moved = await transition(db, "workspace", ws, state, reason=reason, actor_id=actor_id)
    if moved and state == WorkspaceState.DELETED:
        # Kept for its chat history, under a name that frees the old one for a new workspace.
        ws.name = f"{ws.name}~{ws.id}"[:64]
    return moved


async def _free_name(db: AsyncSession, user_id: str, base: str) -> str:
    taken = set(
        (
            await db.scalars(
                select(Workspace.name).where(
                    Workspace.user_id == user_id, Workspace.name.like(f"{base}%")
                )
            )
        ).all()
    )
    for number in range(1, 10_000):
        candidate = f"{base}-{number}"
        if candidate not in taken:
            return candidate
    raise Conflict(f"too many workspaces named {base}-N")


async def create_workspace(
    db: AsyncSession,
    user_id: str,
    *,
    project_ref: str,
    name: str | None,
    branch: str | None,
    node_ref: str | None,
    runtime: str | None = None,
) -> Workspace:
    """Record the workspace in `pending`, for placement to put on a node (`services/placing`).

    `runtime` overrides the project's (`auto`: devcontainer where the node has it working,
    else host); its limits are the project's. With `node_ref` it waits for that node, which
    must exist; a runtime the node does not offer is refused now rather than left waiting.
    """
    project = await projects.get_project(db, user_id, project_ref)
    if name is None:
        name = await _free_name(db, user_id, project.name)
    validate_name(name, "workspace")
    if branch is not None:
        check_branch(branch, "body.branch")
    chosen = await runtimes.check_runtime(
        db, runtime if runtime is not None else project.runtime, field="body.runtime"
    )
    if (
        await db.scalar(
            select(Workspace.id).where(Workspace.user_id == user_id, Workspace.name == name)
        )
        is not None
    ):
        raise Conflict(f"a workspace named {name!r} exists already", reason="name_taken")
    node = await node_service.get_node(db, node_ref) if node_ref is not None else None
    if node is not None and chosen is not None:
        offered = runtimes.node_runtimes(node)
        if offered and all(r.name != chosen for r in offered):
            raise Conflict(
                f"node {node.name} does not offer the {chosen} runtime; it offers: "
                f"{', '.join(sorted(r.name for r in offered))}",
                reason="runtime_not_offered",
                details=[{"field": "body.runtime"}],
            )
    limits = WorkspaceLimits(
        cpus=project.cpus, memory_bytes=project.memory_bytes, pids=project.pids
    )
    workspace = Workspace(
        id=new_id("wsp"),
        user_id=user_id,
        project_id=project.id,
        node_id=node.id if node is not None else None,
        name=name,
        branch=branch or project.default_branch,
        runtime=chosen or runtimes.AUTO,
        limits=limits.model_dump(),
        state=WorkspaceState.PENDING,
        state_reason=WAITING_FOR_PLACEMENT,
    )
    db.add(workspace)
    details = {"project": project.name, "branch": workspace.branch, "runtime": workspace.runtime}
    if node is not None:
        details["node"] = node.name
    activity.record(
        db, "workspace.created", workspace, user_id=user_id, actor_id=user_id, details=details
    )
    await db.commit()
    return workspace


async def ask_node(
    db: AsyncSession,
    registry: NodeRegistry,
    ws: Workspace,
    node: Node,
    method: str,
    params: WorkspaceSpec | WorkspaceRef | WorkspaceRebuild,
) -> None:
    """Send a workspace request; its answer (or failure) becomes the workspace's state."""
    try:
        result = await registry.get(node.id, node.name).call(method, params, WorkspaceStatus)
    except CorralError as exc:
        # Record the failure where the life cycle allows (a failed delete stays `deleting`, to
        # be retried) and raise the node's error, not a state-machine one.
        await _try_transition(db, ws, WorkspaceState.ERROR, exc.message)
        await db.commit()
        raise
    await apply_node_status(db, node.id, result)


async def apply_node_status(db: AsyncSession, node_id: str, status: WorkspaceStatus) -> None:
    """Take a node's word for a workspace's state, if the workspace is on that node."""
    # Read afresh: the node's event of the same change may have been applied meanwhile (in
    # another database session), and applying it again would record the transition twice.
    ws = await db.get(Workspace, status.id, populate_existing=True)
    if ws is None or ws.node_id != node_id:
        log.warning(
            "node %s reported a workspace that is not its own",
            node_id,
            extra={"workspace_id": status.id},
        )
        return
    if ws.state == WorkspaceState.DELETED:
        return
    await _try_transition(db, ws, status.state, status.reason)
    await db.commit()


async def _try_transition(
    db: AsyncSession, ws: Workspace, state: WorkspaceState, reason: str | None
) -> bool:
    if reason is None and state == _W.STOPPED and ws.state in (_W.STOPPING, _W.STOPPED):
        reason = ws.state_reason  # why it was stopped (idle, say) outlives the node's bare answer
    try:
        return await _set_state(db, ws, state, reason=reason)
    except Conflict:
        log.warning("ignored a move of workspace %s from %s to %s", ws.id, ws.state, state)
        return False


async def reconcile_node(db: AsyncSession, node_id: str, reported: WorkspaceList) -> None:
    """After a node (re)links: its workspaces take the state it reports. A workspace being
    deleted that the node no longer has is deleted (its answer was lost with the link)."""
    by_id = {status.id: status for status in reported.workspaces}
    rows = (
        await db.scalars(
            select(Workspace).where(
                Workspace.node_id == node_id,
                Workspace.state.in_([s.value for s in (*LIVE, _W.DELETING)]),
            )
        )
    ).all()
    for ws in rows:
        status = by_id.get(ws.id)
        if ws.state == WorkspaceState.DELETING:
            if status is None:
                await _try_transition(db, ws, WorkspaceState.DELETED, None)
        elif status is not None:
            await _try_transition(db, ws, status.state, status.reason)
        elif ws.state not in (WorkspaceState.PENDING, WorkspaceState.ERROR):
            await _try_transition(
                db, ws, WorkspaceState.ERROR, "the node no longer has this workspace"
            )
    await db.commit()


async def mark_node_unreachable(db: AsyncSession, node: Node) -> None:
    """The node's workspaces move to `error`, unless the node is back already (it may have
    relinked since it was found silent)."""
    await db.refresh(node)
    if node.state != NodeState.STALE:
        return
    rows = (
        await db.scalars(
            select(Workspace).where(
                Workspace.node_id == node.id,
                Workspace.state.in_([s.value for s in LIVE if s not in (_W.PENDING, _W.ERROR)]),
            )
        )
    ).all()
    for ws in rows:
        await _try_transition(
            db, ws, WorkspaceState.ERROR, f"node {node.name} is not reachable ({node.state.value})"
        )
    await db.commit()


async def list_workspaces(
    db: AsyncSession, user_id: str, *, limit: int, cursor: str | None, project_id: str | None = None
) -> tuple[Sequence[Workspace], str | None]:
    statement = select(Workspace).where(
        Workspace.user_id == user_id, Workspace.state != WorkspaceState.DELETED
    )
    if project_id is not None:
        statement = statement.where(Workspace.project_id == project_id)
    return await paginate(db, statement, Workspace.id, limit=limit, cursor=cursor)


async def get_workspace(db: AsyncSession, user_id: str, ref: str) -> Workspace:
    where = [Workspace.user_id == user_id, Workspace.state != WorkspaceState.DELETED]
    return await find_by_ref(db, Workspace, ref, what="workspace", where=where)


async def _node_of(db: AsyncSession, ws: Workspace) -> Node:
    node = await db.get(Node, ws.node_id) if ws.node_id else None
    if node is None or node.state == NodeState.DELETED:
        raise Conflict(f"workspace {ws.name} has no node any more", reason="node_gone")
    return node


class _Change(NamedTuple):
    """Stopping or starting: the state on the way, the state at the end, what the node is asked."""

    during: WorkspaceState
    done: WorkspaceState
    method: str


_STOP = _Change(WorkspaceState.STOPPING, WorkspaceState.STOPPED, "workspace.stop")
_START = _Change(WorkspaceState.STARTING, WorkspaceState.RUNNING, "workspace.start")


async def _change_on_node(
    db: AsyncSession,
    registry: NodeRegistry,
    user_id: str,
    ref: str,
    change: _Change,
    *,
    max_running: int | None = None,
    reason: str | None = None,
    system: bool = False,
) -> Workspace:
    """Move a workspace through `change.during` to `change.done` by asking its node; `system`:
    Corral does it, not the user."""
    ws = await get_workspace(db, user_id, ref)
    if ws.state == change.done:
        return ws
    ensure_transition(ws.state, change.during)
    node = await _node_of(db, ws)
    if change.done in HOLDING and ws.state not in HOLDING:
        await ensure_may_run(db, user_id, max_running)
    await _set_state(db, ws, change.during, reason=reason, actor_id=None if system else user_id)
    await db.commit()
    await ask_node(db, registry, ws, node, change.method, WorkspaceRef(id=ws.id))
    return ws


async def running_count(db: AsyncSession, user_id: str) -> int:
    """How many of the user's workspaces run (or are being made, started or rebuilt)."""
    count = await db.scalar(
        select(func.count()).where(
            Workspace.user_id == user_id, Workspace.state.in_([s.value for s in HOLDING])
        )
    )
    return int(count or 0)


async def ensure_may_run(db: AsyncSession, user_id: str, most: int | None) -> None:
    """`Conflict` if the user has the most running workspaces allowed (`most`, the setting
    `placement.max_running_workspaces_per_user`)."""
    if most is None:
        return
    limited = user_at_limit(await running_count(db, user_id), most)
    if limited is not None:
        raise Conflict(f"{limited.reason}; stop one first", reason="too_many_running")


async def stop_workspace(
    db: AsyncSession,
    registry: NodeRegistry,
    user_id: str,
    ref: str,
    *,
    reason: str | None = None,
    system: bool = False,
) -> Workspace:
    """Stop the workspace; `system`: Corral stops it (the idle policy), and `reason` says why
    (kept as the stopped workspace's reason)."""
    return await _change_on_node(db, registry, user_id, ref, _STOP, reason=reason, system=system)


async def start_workspace(
    db: AsyncSession,
    registry: NodeRegistry,
    user_id: str,
    ref: str,
    *,
    max_running: int | None = None,
) -> Workspace:
    return await _change_on_node(db, registry, user_id, ref, _START, max_running=max_running)


async def rebuild_workspace(
    db: AsyncSession,
    registry: NodeRegistry,
    logs: ProvisioningLogs,
    user_id: str,
    ref: str,
    *,
    default_image: bool = False,
    max_running: int | None = None,
) -> Workspace:
    """Ask the workspace's node to make its container again from its (changed) configuration,
    keeping the checkout; `default_image` ignores the repository's configuration, for a build
    that failed. Answers once the node has begun (`rebuilding`); the outcome arrives as a
    `workspace.state` event, as a create's does. A node that refuses (its runtime cannot
    rebuild) leaves the workspace as it was, and its message is raised."""
    ws = await get_workspace(db, user_id, ref)
    ensure_transition(ws.state, WorkspaceState.REBUILDING)
    node = await _node_of(db, ws)
    if ws.state not in HOLDING:
        await ensure_may_run(db, user_id, max_running)
    before, before_reason = ws.state, ws.state_reason
    reason = "with the default image" if default_image else None
    await _set_state(db, ws, WorkspaceState.REBUILDING, reason=reason, actor_id=user_id)
    await db.commit()
    logs.clear(node.id, ws.id)
    request = WorkspaceRebuild(
        id=ws.id, default_image=default_image, limits=WorkspaceLimits.model_validate(ws.limits)
    )
    try:
        result = await registry.get(node.id, node.name).call(
            "workspace.rebuild", request, WorkspaceStatus
        )
    except CorralError as exc:
        await db.refresh(ws)
        if ws.state == WorkspaceState.REBUILDING:
            await _try_transition(db, ws, before, before_reason)
        activity.record(
            db,
            "workspace.rebuild_refused",
            ws,
            user_id=ws.user_id,
            actor_id=user_id,
            details={"node": node.name, "reason": exc.message},
        )
        await db.commit()
        raise
    if result.state != WorkspaceState.REBUILDING:  # at once, keeping the reason it was given
        await apply_node_status(db, node.id, result)
    return ws


async def delete_workspace(
    db: AsyncSession, registry: NodeRegistry, user_id: str, ref: str
) -> None:
    """Remove the workspace from its node, then mark it deleted (kept for its chat history).
    One still pending is deleted at once, unless placement claims it first."""
    ws = await get_workspace(db, user_id, ref)
    if ws.state == WorkspaceState.PENDING:
        if await claim_transition(db, "workspace", ws, WorkspaceState.DELETING, actor_id=user_id):
            await _set_state(db, ws, WorkspaceState.DELETED)
            await db.commit()
            return
        await db.rollback()
        await db.refresh(ws)  # placed meanwhile: it is on its node now
    await _set_state(db, ws, WorkspaceState.DELETING, actor_id=user_id)
    await db.commit()
    node = await db.get(Node, ws.node_id) if ws.node_id else None
    if node is not None and node.state != NodeState.DELETED:
        await ask_node(db, registry, ws, node, "workspace.delete", WorkspaceRef(id=ws.id))
    else:
        await _set_state(db, ws, WorkspaceState.DELETED)
    await db.commit()


async def running_with_link(
    db: AsyncSession,
    registry: NodeRegistry,
    user_id: str,
    workspace_ref: str,
    *,
    wait_seconds: float = 0,
) -> tuple[Workspace, NodeCalls]:
    """The user's running workspace and the link to its node, waiting up to `wait_seconds` for
    a node that is relinking (after a control plane restart, viewers come back first)."""
    workspace = await get_workspace(db, user_id, workspace_ref)
    if workspace.state == WorkspaceState.PENDING:
        raise Conflict(
            f"workspace {workspace.name} is pending, not running: "
            f"{workspace.state_reason or WAITING_FOR_PLACEMENT}",
            reason="workspace_not_running",
        )
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
