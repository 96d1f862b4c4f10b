"""Routes for projects."""

from __future__ import annotations

from fastapi import APIRouter

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db, PageParams, State
from corral.control.db.models import UserRole
from corral.control.schemas.common import Page
from corral.control.schemas.fields import ProjectRef
from corral.control.schemas.projects import ProjectCreate, ProjectPublic, ProjectUpdate
from corral.control.schemas.pullrequests import PullRequestPublic
from corral.control.services import projects, pullrequests

router = APIRouter(prefix=f"{API_PREFIX}/projects", tags=["projects"])


@router.get("")
async def list_projects(user: CurrentUser, db: Db, page: PageParams) -> Page[ProjectPublic]:
    rows, next_cursor = await projects.list_projects(
        db, user.id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[ProjectPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post("", status_code=201)
async def create_project(
    body: ProjectCreate, user: CurrentUser, db: Db, state: State
) -> ProjectPublic:
    """Add a project; the repository must answer `git ls-remote` and have the branch."""
    project = await projects.create_project(
        db,
        user.id,
        name=body.name,
        repo=body.repo,
        github=body.github,
        credential=body.credential,
        default_branch=body.default_branch,
        env=body.env,
        repo_check_timeout_seconds=state.settings.projects.repo_check_timeout_seconds,
        allow_local_repo=user.role == UserRole.OWNER,
        box=state.secret_box,
        github_settings=state.settings.github,
        runtime=body.runtime,
        cpus=body.cpus,
        memory_bytes=body.memory_bytes,
        pids=body.pids,
        idle_timeout_minutes=body.idle_timeout_minutes,
    )
    return ProjectPublic.model_validate(project)


@router.get("/{project}")
async def get_project(project: ProjectRef, user: CurrentUser, db: Db) -> ProjectPublic:
    """Look a project up by id or name."""
    return ProjectPublic.model_validate(await projects.get_project(db, user.id, project))


@router.patch("/{project}")
async def update_project(
    project: ProjectRef, body: ProjectUpdate, user: CurrentUser, db: Db, state: State
) -> ProjectPublic:
    """Change what is given; a null `runtime` or limit goes back to auto or the node's
    default, a null `idle_timeout_minutes` to the control plane's default. Workspaces made
    before keep their runtime and limits (and follow their project's idle timeout unless they
    set their own)."""
    given = body.model_fields_set
    updated = await projects.update_project(
        db,
        user.id,
        project,
        name=body.name,
        default_branch=body.default_branch,
        env=body.env,
        runtime=body.runtime if "runtime" in given else projects.KEEP,
        cpus=body.cpus if "cpus" in given else projects.KEEP,
        memory_bytes=body.memory_bytes if "memory_bytes" in given else projects.KEEP,
        pids=body.pids if "pids" in given else projects.KEEP,
        idle_timeout_minutes=(
            body.idle_timeout_minutes if "idle_timeout_minutes" in given else projects.KEEP
        ),
        repo_check_timeout_seconds=state.settings.projects.repo_check_timeout_seconds,
        box=state.secret_box,
        github_settings=state.settings.github,
    )
    return ProjectPublic.model_validate(updated)


@router.delete("/{project}", status_code=204)
async def delete_project(project: ProjectRef, user: CurrentUser, db: Db) -> None:
    await projects.delete_project(db, user.id, project)


@router.get("/{project}/pull-requests")
async def list_pull_requests(
    project: ProjectRef, user: CurrentUser, db: Db, page: PageParams
) -> Page[PullRequestPublic]:
    """The pull requests this project's chats opened, newest first."""
    found = await projects.get_project(db, user.id, project)
    rows, next_cursor = await pullrequests.list_for_project(
        db, found, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[PullRequestPublic.model_validate(r) for r in rows], next_cursor=next_cursor)
