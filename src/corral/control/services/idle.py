"""The idle policy: a running workspace that nobody uses stops by itself, its chats resumable.

A workspace is idle while nobody types in its terminals, no viewer is attached to one of its
terminals or chats, no agent turn runs in it (a session `starting`, `running` or
`awaiting_permission`) and no permission request waits. Its last activity is the latest of: the
last input or viewer written to `last_active_at` (by the control plane processes' `Presence`),
what this process has not written yet, when the workspace last changed state (it started), and
when one of its sessions last changed state (a turn ended). It stops once its idle timeout has
passed since then: the workspace's own `idle_timeout_minutes`, else its project's, else the
control plane's `idle.default_timeout_minutes`; 0 at any level means never.

Only the database and this process's `Presence` are consulted, so several control plane
processes can each run the check: another process's viewers keep `last_active_at` fresh.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.models import (
    AgentSession,
    PermissionRequest,
    PermissionState,
    Project,
    Workspace,
)
from corral.control.nodelink.registry import NodeRegistry
from corral.control.presence import Presence
from corral.control.services import activity, workspaces
from corral.errors import CorralError
from corral.states import SessionState, WorkspaceState

__all__ = [
    "BUSY_SESSION_STATES",
    "MAX_IDLE_TIMEOUT_MINUTES",
    "Hold",
    "IdleFacts",
    "IdleStatus",
    "IdleStop",
    "IdleTimeout",
    "effective_timeout",
    "find_idle",
    "format_minutes",
    "idle_deadline",
    "idle_statuses",
    "record_activity",
    "set_workspace_idle_timeout",
    "stop_idle",
]

log = logging.getLogger("corral.idle")

MAX_IDLE_TIMEOUT_MINUTES = 30 * 24 * 60
"""The longest idle timeout a project or workspace may set (30 days); 0 means never."""

BUSY_SESSION_STATES = (
    SessionState.STARTING,
    SessionState.RUNNING,
    SessionState.AWAITING_PERMISSION,
)
"""Session states in which an agent works (or is about to): its workspace is not idle."""


TimeoutSource = Literal["workspace", "project", "default"]


class Hold(StrEnum):
    """What keeps a running workspace from counting as idle, however long it lasts."""

    AGENT_WORKING = "agent_working"
    PERMISSION_WAITING = "permission_waiting"
    VIEWER_ATTACHED = "viewer_attached"


@dataclass(frozen=True)
class IdleTimeout:
    minutes: float | None
    """How long the workspace may sit idle; None: it is never stopped for being idle."""
    source: TimeoutSource
    """Who set it: the workspace itself, its project, or the control plane's default."""


def effective_timeout(
    workspace_minutes: int | None, project_minutes: int | None, default_minutes: float
) -> IdleTimeout:
    """The workspace's own timeout, else its project's, else the default; 0 at the level that
    decides means never."""
    value: float
    source: TimeoutSource
    if workspace_minutes is not None:
        value, source = workspace_minutes, "workspace"
    elif project_minutes is not None:
        value, source = project_minutes, "project"
    else:
        value, source = default_minutes, "default"
    return IdleTimeout(float(value) if value > 0 else None, source)


@dataclass(frozen=True)
class IdleFacts:
    """What the decision needs to know of one workspace."""

    running: bool
    timeout_minutes: float | None
    last_active_at: datetime
    hold: Hold | None = None


def idle_deadline(facts: IdleFacts) -> datetime | None:
    """When the workspace stops if nothing happens until then; None if it does not: it is not
    running, never stops for being idle, or something holds it (however long that lasts)."""
    if not facts.running or facts.timeout_minutes is None or facts.hold is not None:
        return None
    return facts.last_active_at + timedelta(minutes=facts.timeout_minutes)


def format_minutes(minutes: float) -> str:
    """`30 min`, `1 h 30 min`, `2 h`, `45 s`: a timeout as people say it."""
    seconds = round(minutes * 60)
    if seconds < 60:
        return f"{seconds} s"
    hours, rest = divmod(round(minutes), 60)
    if not hours:
        return f"{rest} min"
    return f"{hours} h {rest} min" if rest else f"{hours} h"


@dataclass(frozen=True)
class IdleStatus:
    """A workspace's idle policy as the API shows it."""

    timeout: IdleTimeout
    last_active_at: datetime | None
    """Its latest activity, for a running workspace."""
    hold: Hold | None
    stop_at: datetime | None
    """`idle_deadline`: when it stops if nothing happens."""


async def idle_statuses(
    db: AsyncSession,
    rows: Sequence[Workspace],
    *,
    default_timeout_minutes: float,
    presence: Presence,
    viewers_hold: bool = False,
) -> dict[str, IdleStatus]:
    """Each workspace's idle status, by id, in a few queries for all of them.

    A viewer attached in this process keeps `last_active_at` at now; with `viewers_hold` it also
    holds the workspace (the reconciler's view: never stop one somebody watches)."""
    project_ids = {ws.project_id for ws in rows if ws.project_id is not None}
    project_minutes: dict[str, int | None] = {}
    if project_ids:
        result = await db.execute(
            select(Project.id, Project.idle_timeout_minutes).where(Project.id.in_(project_ids))
        )
        project_minutes = {project_id: minutes for project_id, minutes in result}
    running = [ws.id for ws in rows if ws.state == WorkspaceState.RUNNING]
    session_changes, holds = await _session_facts(db, running)
    statuses: dict[str, IdleStatus] = {}
    for ws in rows:
        timeout = effective_timeout(
            ws.idle_timeout_minutes,
            project_minutes.get(ws.project_id) if ws.project_id else None,
            default_timeout_minutes,
        )
        if ws.state != WorkspaceState.RUNNING:
            statuses[ws.id] = IdleStatus(timeout, None, None, None)
            continue
        last = _latest(
            ws.last_active_at,
            ws.state_changed_at,
            session_changes.get(ws.id),
            presence.latest(ws.id),
        )
        hold = holds.get(ws.id)
        if hold is None and viewers_hold and presence.viewers(ws.id):
            hold = Hold.VIEWER_ATTACHED
        deadline = idle_deadline(IdleFacts(True, timeout.minutes, last, hold))
        statuses[ws.id] = IdleStatus(timeout, last, hold, deadline)
    return statuses


def _latest(*moments: datetime | None) -> datetime:
    return max(moment for moment in moments if moment is not None)


async def _session_facts(
    db: AsyncSession, workspace_ids: Sequence[str]
) -> tuple[dict[str, datetime], dict[str, Hold]]:
    """For each workspace: when one of its sessions last changed state, and what holds it."""
    if not workspace_ids:
        return {}, {}
    changes: dict[str, datetime] = {}
    holds: dict[str, Hold] = {}
    # One statement (it runs on every workspace listing): per workspace and session state, the
    # latest change and whether any of those sessions has a permission request pending.
    pending = (
        select(PermissionRequest.id)
        .where(
            PermissionRequest.session_id == AgentSession.id,
            PermissionRequest.state == PermissionState.PENDING,
        )
        .exists()
    )
    by_state = await db.execute(
        select(
            AgentSession.workspace_id,
            AgentSession.state,
            func.max(AgentSession.state_changed_at),
            func.max(case((pending, 1), else_=0)),
        )
        .where(AgentSession.workspace_id.in_(workspace_ids))
        .group_by(AgentSession.workspace_id, AgentSession.state)
    )
    for workspace_id, state, changed_at, waiting in by_state:
        if workspace_id is None:
            continue
        if waiting:
            holds[workspace_id] = Hold.PERMISSION_WAITING
        if changed_at is None:
            continue
        changes[workspace_id] = max(changed_at, changes.get(workspace_id, changed_at))
        if state == SessionState.AWAITING_PERMISSION:
            holds[workspace_id] = Hold.PERMISSION_WAITING
        elif state in BUSY_SESSION_STATES:
            holds.setdefault(workspace_id, Hold.AGENT_WORKING)
    return changes, holds


async def record_activity(db: AsyncSession, latest: Mapping[str, datetime]) -> None:
    """Write each workspace's latest activity (from `Presence.take`), never moving it back."""
    if not latest:
        return
    rows = await db.scalars(select(Workspace).where(Workspace.id.in_(list(latest))))
    for ws in rows:
        at = latest[ws.id]
        if ws.last_active_at is None or ws.last_active_at < at:
            ws.last_active_at = at
    await db.commit()


@dataclass(frozen=True)
class IdleStop:
    """A workspace whose idle deadline has passed."""

    workspace_id: str
    user_id: str
    timeout_minutes: float
    last_active_at: datetime

    @property
    def reason(self) -> str:
        return f"stopped after {format_minutes(self.timeout_minutes)} idle"


async def find_idle(
    db: AsyncSession,
    registry: NodeRegistry,
    presence: Presence,
    *,
    default_timeout_minutes: float,
    now: datetime | None = None,
) -> list[IdleStop]:
    """Running workspaces whose idle deadline has passed, on nodes linked to this process (a
    workspace whose node is away is left until it is back)."""
    now = now or utcnow()
    rows = (
        await db.scalars(select(Workspace).where(Workspace.state == WorkspaceState.RUNNING))
    ).all()
    statuses = await idle_statuses(
        db,
        rows,
        default_timeout_minutes=default_timeout_minutes,
        presence=presence,
        viewers_hold=True,
    )
    due: list[IdleStop] = []
    for ws in rows:
        status = statuses[ws.id]
        if status.stop_at is None or status.stop_at > now:
            continue
        if ws.node_id is None or not registry.is_connected(ws.node_id):
            continue
        assert status.timeout.minutes is not None and status.last_active_at is not None
        due.append(IdleStop(ws.id, ws.user_id, status.timeout.minutes, status.last_active_at))
    return due


async def stop_idle(db: AsyncSession, registry: NodeRegistry, due: IdleStop) -> bool:
    """Stop the workspace through its node as Corral itself, saying why, and record
    `workspace.idle_stopped`; True once it has stopped. Its agent sessions end with it and
    resume on their next prompt after it is started again."""
    try:
        ws = await workspaces.stop_workspace(
            db, registry, due.user_id, due.workspace_id, reason=due.reason, system=True
        )
    except CorralError as exc:
        log.warning(
            "could not stop idle workspace %s: %s",
            due.workspace_id,
            exc.message,
            extra={"workspace_id": due.workspace_id},
        )
        return False
    if ws.state != WorkspaceState.STOPPED:
        return False
    activity.record(
        db,
        "workspace.idle_stopped",
        ws,
        user_id=ws.user_id,
        actor_id=None,
        details={
            "reason": due.reason,
            "idle_timeout_minutes": due.timeout_minutes,
            "last_active_at": due.last_active_at.isoformat(),
        },
    )
    await db.commit()
    log.info("stopped idle workspace %s", ws.name, extra={"workspace_id": ws.id})
    return True


async def set_workspace_idle_timeout(
    db: AsyncSession, user_id: str, ref: str, minutes: int | None
) -> Workspace:
    """Set the workspace's own idle timeout (0: never stop it for being idle), or with None go
    back to its project's."""
    ws = await workspaces.get_workspace(db, user_id, ref)
    if ws.idle_timeout_minutes != minutes:
        ws.idle_timeout_minutes = minutes
        activity.record(
            db,
            "workspace.updated",
            ws,
            user_id=user_id,
            actor_id=user_id,
            details={"changed": ["idle_timeout_minutes"]},
        )
        await db.commit()
    return ws
