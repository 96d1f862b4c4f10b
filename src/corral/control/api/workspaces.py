"""Routes for workspaces."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db, PageParams, State
from corral.control.db.models import Workspace
from corral.control.schemas.common import Page
from corral.control.schemas.fields import ProjectRefQuery, WorkspaceRef
from corral.control.schemas.workspaces import (
    WorkspaceCreate,
    WorkspaceLog,
    WorkspacePublic,
    WorkspaceRebuildRequest,
    WorkspaceUpdate,
)
from corral.control.services import idle, projects, workspaces
from corral.control.state import AppState

router = APIRouter(prefix=f"{API_PREFIX}/workspaces", tags=["workspaces"])


async def _public(
    db: AsyncSession, state: AppState, rows: Sequence[Workspace]
) -> list[WorkspacePublic]:
    """The rows as the API shows them, with their idle status."""
    statuses = await idle.idle_statuses(
        db,
        rows,
        default_timeout_minutes=state.settings.idle.default_timeout_minutes,
        presence=state.presence,
    )
    return [WorkspacePublic.of(row, statuses[row.id]) for row in rows]


async def _one(db: AsyncSession, state: AppState, row: Workspace) -> WorkspacePublic:
    return (await _public(db, state, [row]))[0]


@router.get("")
async def list_workspaces(
    user: CurrentUser,
    db: Db,
    state: State,
    page: PageParams,
    project: ProjectRefQuery = None,
) -> Page[WorkspacePublic]:
    project_id = (await projects.get_project(db, user.id, project)).id if project else None
    rows, next_cursor = await workspaces.list_workspaces(
        db, user.id, limit=page.limit, cursor=page.cursor, project_id=project_id
    )
    return Page(items=await _public(db, state, rows), next_cursor=next_cursor)


@router.post("", status_code=201)
async def create_workspace(
    body: WorkspaceCreate, user: CurrentUser, db: Db, state: State
) -> WorkspacePublic:
    """Make a workspace from a project. It is `pending` until placement puts it on a node with
    room (its `state_reason` says why it waits), then `creating` until the clone is done."""
    workspace = await workspaces.create_workspace(
        db,
        user.id,
        project_ref=body.project,
        name=body.name,
        branch=body.branch,
        node_ref=body.node,
        runtime=body.runtime,
    )
    state.placement_due.set()
    return await _one(db, state, workspace)


@router.get("/{workspace}")
async def get_workspace(
    workspace: WorkspaceRef, user: CurrentUser, db: Db, state: State
) -> WorkspacePublic:
    return await _one(db, state, await workspaces.get_workspace(db, user.id, workspace))


@router.patch("/{workspace}")
async def update_workspace(
    workspace: WorkspaceRef, body: WorkspaceUpdate, user: CurrentUser, db: Db, state: State
) -> WorkspacePublic:
    """Change only what is given: `idle_timeout_minutes` (null: the project's again)."""
    if "idle_timeout_minutes" in body.model_fields_set:
        found = await idle.set_workspace_idle_timeout(
            db, user.id, workspace, body.idle_timeout_minutes
        )
    else:
        found = await workspaces.get_workspace(db, user.id, workspace)
    return await _one(db, state, found)


@router.get("/{workspace}/log")
async def get_workspace_log(
    workspace: WorkspaceRef, user: CurrentUser, db: Db, state: State
) -> WorkspaceLog:
    """The recent provisioning log (git's progress) reported by the workspace's node."""
    found = await workspaces.get_workspace(db, user.id, workspace)
    lines = state.provisioning_logs.lines(found.node_id, found.id) if found.node_id else []
    return WorkspaceLog(lines=lines)


@router.post("/{workspace}/stop")
async def stop_workspace(
    workspace: WorkspaceRef, user: CurrentUser, db: Db, state: State
) -> WorkspacePublic:
    found = await workspaces.stop_workspace(db, state.node_registry, user.id, workspace)
    state.placement_due.set()  # what it held is free for pending workspaces
    return await _one(db, state, found)


@router.post("/{workspace}/start")
async def start_workspace(
    workspace: WorkspaceRef, user: CurrentUser, db: Db, state: State
) -> WorkspacePublic:
    """Start a stopped workspace; refused while you have the most running workspaces allowed."""
    found = await workspaces.start_workspace(
        db,
        state.node_registry,
        user.id,
        workspace,
        max_running=state.settings.placement.max_running_workspaces_per_user,
    )
    return await _one(db, state, found)


@router.post("/{workspace}/rebuild")
async def rebuild_workspace(
    workspace: WorkspaceRef,
    user: CurrentUser,
    db: Db,
    state: State,
    body: WorkspaceRebuildRequest | None = None,
) -> WorkspacePublic:
    """Make a running, stopped or failed workspace's container again from its devcontainer
    configuration, keeping the checkout. Answers `rebuilding` at once; the outcome (`running`
    or `error`) follows, and the build's lines are in its log. A runtime that cannot rebuild
    (`host`) is refused with its node's message."""
    found = await workspaces.rebuild_workspace(
        db,
        state.node_registry,
        state.provisioning_logs,
        user.id,
        workspace,
        default_image=body.default_image if body is not None else False,
        max_running=state.settings.placement.max_running_workspaces_per_user,
    )
    return await _one(db, state, found)


@router.delete("/{workspace}", status_code=204)
async def delete_workspace(
    workspace: WorkspaceRef, user: CurrentUser, db: Db, state: State
) -> None:
    """Delete a workspace and its files on its node; one still pending is simply dropped."""
    await workspaces.delete_workspace(db, state.node_registry, user.id, workspace)
    state.placement_due.set()
