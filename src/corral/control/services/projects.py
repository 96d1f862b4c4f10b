"""Projects: a named git repository, its default branch, its environment variables, and the
runtime and limits of its workspaces."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.models import Project
from corral.control.secretbox import SecretBox
from corral.control.services import activity, gitaccess, runtimes
from corral.control.services.git import redact_repo, resolve_branch
from corral.control.services.lookup import find_by_ref
from corral.control.services.names import ENV_NAME_PATTERN, validate_name
from corral.control.services.pagination import paginate
from corral.errors import Conflict, InvalidInput
from corral.ids import new_id
from corral.protocol.messages import MAX_ENV_VALUE_LENGTH, MAX_ENV_VARS
from corral.settings import GitHubSettings

__all__ = [
    "KEEP",
    "Keep",
    "create_project",
    "delete_project",
    "get_project",
    "list_projects",
    "patch_env",
    "update_project",
    "validate_env",
]


class Keep(Enum):
    """A field an update leaves as it is (where None means something: auto, the default)."""

    KEEP = "keep"


KEEP = Keep.KEEP


def validate_env(env: dict[str, str]) -> dict[str, str]:
    if len(env) > MAX_ENV_VARS:
        raise InvalidInput(
            f"at most {MAX_ENV_VARS} environment variables", details=[{"field": "body.env"}]
        )
    bad = sorted(key for key in env if not ENV_NAME_PATTERN.match(key))
    if bad:
        raise InvalidInput(
            f"not valid environment variable names: {', '.join(repr(k) for k in bad)}",
            details=[{"field": f"body.env.{key}"} for key in bad],
        )
    long = sorted(key for key, value in env.items() if len(value) > MAX_ENV_VALUE_LENGTH)
    if long:
        raise InvalidInput(
            f"environment values are limited to {MAX_ENV_VALUE_LENGTH} characters: "
            + ", ".join(repr(k) for k in long),
            details=[{"field": f"body.env.{key}"} for key in long],
        )
    return dict(env)


def patch_env(env: Mapping[str, str], patch: Mapping[str, str | None]) -> dict[str, str]:
    """`env` with `patch` applied as a JSON Merge Patch (RFC 7396): a name whose value is
    null is removed, any other is set, and names the patch leaves out stay as they are."""
    bad = sorted(key for key in patch if not ENV_NAME_PATTERN.match(key))
    if bad:
        raise InvalidInput(
            f"not valid environment variable names: {', '.join(repr(k) for k in bad)}",
            details=[{"field": f"body.env.{key}"} for key in bad],
        )
    merged = dict(env)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return validate_env(merged)


def _repo_error(message: str, reason: str = "invalid_repo") -> InvalidInput:
    return InvalidInput(message, reason=reason, details=[{"field": "body.repo"}])


def normalise_repo(repo: str, *, allow_local: bool) -> str:
    """Accept an https/http/ssh/git URL, an scp-style `git@host:path`, or (owner only) a local
    repository by absolute path or file:// URL.

    A token in the URL is refused rather than stored, since it would be shown with the project:
    it belongs in a credential. Local paths are the owner's, because they read the control
    plane's own disk.
    """
    repo = repo.strip()
    if not repo:
        raise _repo_error("the repository is empty")
    if repo.startswith("-"):
        raise _repo_error("the repository cannot start with '-'")
    scp_style = re.match(r"^[\w.-]+@[\w.-]+:(?!//)", repo)
    if "://" in repo:
        parts = urlsplit(repo)
        scheme = parts.scheme.lower()
        if scheme not in ("https", "http", "ssh", "git", "file"):
            raise _repo_error(f"unsupported repository scheme {parts.scheme!r}")
        if parts.password or (scheme in ("https", "http") and parts.username):
            raise _repo_error(
                "the repository URL holds a user name or token; remove it and store the token "
                "as a credential instead (`corral credentials set github`)",
                reason="secret_in_url",
            )
        if parts.query or parts.fragment:
            raise _repo_error("a repository URL has no query or fragment")
        if scheme == "file" and not allow_local:
            raise _repo_error(
                "only the owner can add a repository on the control plane's disk",
                reason="local_repo_owner_only",
            )
        return repo
    if scp_style:
        return repo
    path = Path(repo).expanduser()
    if not path.is_absolute():
        raise _repo_error("a local repository must be given as an absolute path")
    if not allow_local:
        raise _repo_error(
            "only the owner can add a repository on the control plane's disk",
            reason="local_repo_owner_only",
        )
    return str(path)


async def create_project(
    db: AsyncSession,
    user_id: str,
    *,
    name: str,
    repo: str | None,
    default_branch: str | None,
    env: dict[str, str],
    repo_check_timeout_seconds: float,
    allow_local_repo: bool,
    box: SecretBox,
    github_settings: GitHubSettings,
    github: str | None = None,
    credential: str | None = None,
    runtime: str | None = None,
    cpus: float | None = None,
    memory_bytes: int | None = None,
    pids: int | None = None,
    idle_timeout_minutes: int | None = None,
) -> Project:
    """Add a project; `runtime` None or `auto` lets placement choose, limits left None take
    the node's defaults for the runtime, and an `idle_timeout_minutes` of None the control
    plane's default. The repository is `repo` (a URL) or `github` (owner/name, reached through
    the GitHub App's installation, or the `github` token or `ssh-key` `credential` names). With
    an SSH key, the server's host key is pinned first (`gitaccess.pin_host_key`)."""
    validate_name(name, "project")
    env = validate_env(env)
    access = await gitaccess.resolve_access(
        db, box, github_settings, user_id, repo=repo, github=github, credential=credential
    )
    repo = normalise_repo(access.repo, allow_local=allow_local_repo)
    chosen = await runtimes.check_runtime(db, runtime, field="body.runtime")
    limits = runtimes.check_limits(cpus=cpus, memory_bytes=memory_bytes, pids=pids)
    await _ensure_name_free(db, user_id, name)
    project = Project(
        id=new_id("prj"),
        user_id=user_id,
        name=name,
        repo=repo,
        env=env,
        runtime=chosen,
        cpus=limits.cpus,
        memory_bytes=limits.memory_bytes,
        pids=limits.pids,
        idle_timeout_minutes=idle_timeout_minutes,
        git_credential_id=access.credential_id,
        github_repo=access.github_repo,
        github_installation_id=access.installation_id,
    )
    if access.ssh:
        await gitaccess.pin_host_key(
            db, box, github_settings, project, timeout_seconds=repo_check_timeout_seconds
        )
    branch = await resolve_branch(
        repo,
        default_branch,
        timeout_seconds=repo_check_timeout_seconds,
        credential=await gitaccess.credential_for(db, box, github_settings, project, "fetch"),
    )
    project.default_branch = branch
    db.add(project)
    activity.record(
        db,
        "project.created",
        project,
        user_id=user_id,
        actor_id=user_id,
        details={
            "repo": redact_repo(repo),
            "default_branch": branch,
            **({"github": access.github_repo} if access.github_repo else {}),
            "runtime": chosen or runtimes.AUTO,
            **limits.model_dump(exclude_none=True),
        },
    )
    await db.commit()
    return project


async def _ensure_name_free(db: AsyncSession, user_id: str, name: str) -> None:
    taken = await db.scalar(
        select(Project.id).where(Project.user_id == user_id, Project.name == name)
    )
    if taken is not None:
        raise Conflict(f"a project named {name!r} exists already", reason="name_taken")


async def list_projects(
    db: AsyncSession, user_id: str, *, limit: int, cursor: str | None
) -> tuple[Sequence[Project], str | None]:
    statement = select(Project).where(Project.user_id == user_id)
    return await paginate(db, statement, Project.id, limit=limit, cursor=cursor)


async def get_project(db: AsyncSession, user_id: str, ref: str) -> Project:
    """Find one of the user's projects by id or name; anyone else's answers `NotFound`."""
    return await find_by_ref(db, Project, ref, what="project", where=[Project.user_id == user_id])


async def update_project(
    db: AsyncSession,
    user_id: str,
    ref: str,
    *,
    name: str | None = None,
    default_branch: str | None = None,
    env: Mapping[str, str | None] | None = None,
    runtime: str | Keep | None = KEEP,
    cpus: float | Keep | None = KEEP,
    memory_bytes: int | Keep | None = KEEP,
    pids: int | Keep | None = KEEP,
    idle_timeout_minutes: int | Keep | None = KEEP,
    repo_check_timeout_seconds: float,
    box: SecretBox,
    github_settings: GitHubSettings,
) -> Project:
    """Change what is given; `env` is a merge patch of the variables (see `patch_env`);
    `runtime`, the limits and `idle_timeout_minutes` change unless `KEEP` (None: auto, the
    node's defaults, the control plane's default idle timeout). Existing workspaces keep their
    runtime and limits."""
    project = await get_project(db, user_id, ref)
    changed: list[str] = []
    if runtime is not KEEP:
        chosen = await runtimes.check_runtime(db, runtime, field="body.runtime")
        if chosen != project.runtime:
            project.runtime = chosen
            changed.append("runtime")
    limits = runtimes.check_limits(
        cpus=project.cpus if cpus is KEEP else cpus,
        memory_bytes=project.memory_bytes if memory_bytes is KEEP else memory_bytes,
        pids=project.pids if pids is KEEP else pids,
    )
    for field in ("cpus", "memory_bytes", "pids"):
        if getattr(limits, field) != getattr(project, field):
            setattr(project, field, getattr(limits, field))
            changed.append(field)
    if name is not None and name != project.name:
        validate_name(name, "project")
        await _ensure_name_free(db, user_id, name)
        project.name = name
        changed.append("name")
    if default_branch is not None and default_branch != project.default_branch:
        project.default_branch = await resolve_branch(
            project.repo,
            default_branch,
            timeout_seconds=repo_check_timeout_seconds,
            credential=await gitaccess.credential_for(db, box, github_settings, project, "fetch"),
        )
        changed.append("default_branch")
    merged = patch_env(project.env, env) if env is not None else project.env
    if merged != project.env:
        project.env = merged
        changed.append("env")
    if idle_timeout_minutes is not KEEP and idle_timeout_minutes != project.idle_timeout_minutes:
        project.idle_timeout_minutes = idle_timeout_minutes
        changed.append("idle_timeout_minutes")
    if changed:
        project.updated_at = utcnow()
        activity.record(
            db,
            "project.updated",
            project,
            user_id=user_id,
            actor_id=user_id,
            details={"changed": changed},
        )
        await db.commit()
    return project


async def delete_project(db: AsyncSession, user_id: str, ref: str) -> None:
    project = await get_project(db, user_id, ref)
    await db.delete(project)
    activity.record(db, "project.deleted", project, user_id=user_id, actor_id=user_id)
    await db.commit()
