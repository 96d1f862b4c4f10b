"""Agents a user can run (the built-in catalog and their own), and how they run them.

Settings resolve in layers: the project's settings for the agent, then the user's, then the
catalog's defaults; `env` merges key by key in that order. `launch_for` turns the result into
what a node needs to start the agent, including the credential's value for the agent's
environment: the only place a credential is decrypted for an agent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.catalog import ENDPOINT_PLACEHOLDER, AgentSpec, builtin_agents, endpoint_problem
from corral.control.db.base import utcnow
from corral.control.db.models import AgentSetting, Credential, CredentialKind, CustomAgent
from corral.control.db.models.agents import USER_SCOPE
from corral.control.secretbox import SecretBox
from corral.control.services import activity, credentials
from corral.control.services.names import ENV_NAME_PATTERN, validate_name
from corral.control.services.projects import patch_env
from corral.errors import Conflict, InvalidInput, NotFound
from corral.ids import new_id
from corral.protocol.agents import MAX_ARG_CHARS, MAX_ARGS, AgentLaunch
from corral.protocol.sessions import Policy

__all__ = [
    "ResolvedSettings",
    "SettingsLayer",
    "add_custom_agent",
    "agents_for",
    "configure",
    "get_agent",
    "launch_for",
    "own_settings",
    "remove_custom_agent",
    "resolve",
    "settings_rows",
]

_ENTRY_FIELDS_KEPT_APART = {"name", "builtin", "command"}


@dataclass
class ResolvedSettings:
    """The settings a session of `agent` gets, and where each came from."""

    agent: str
    credential: str | None = None
    model: str | None = None
    policy: Policy = Policy.ASK
    endpoint: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] = field(default_factory=list)
    credential_id: str | None = None


def _custom_spec(row: CustomAgent) -> AgentSpec:
    entry = {"title": row.name, **(row.entry or {})}
    return AgentSpec.model_validate({**entry, "name": row.name, "command": row.command})


async def agents_for(db: AsyncSession, user_id: str) -> list[AgentSpec]:
    """The built-in agents, then the user's own, by name."""
    rows = (
        await db.scalars(
            select(CustomAgent).where(CustomAgent.user_id == user_id).order_by(CustomAgent.name)
        )
    ).all()
    return [*builtin_agents().values(), *(_custom_spec(row) for row in rows)]


async def get_agent(db: AsyncSession, user_id: str, name: str) -> AgentSpec:
    builtin = builtin_agents().get(name)
    if builtin is not None:
        return builtin
    row = await db.scalar(
        select(CustomAgent).where(CustomAgent.user_id == user_id, CustomAgent.name == name)
    )
    if row is None:
        known = ", ".join(sorted(builtin_agents()))
        raise NotFound(
            f"no agent named {name!r} (built in: {known}; add your own with "
            "`corral agent add NAME -- COMMAND`)"
        )
    return _custom_spec(row)


def _validate_args(args: Sequence[str], field_name: str) -> list[str]:
    if len(args) > MAX_ARGS:
        raise InvalidInput(f"at most {MAX_ARGS} arguments", details=[{"field": field_name}])
    for arg in args:
        if len(arg) > MAX_ARG_CHARS or "\0" in arg:
            raise InvalidInput(
                f"an argument is over {MAX_ARG_CHARS} characters or holds a NUL byte",
                details=[{"field": field_name}],
            )
    return list(args)


def _spec_of_entry(name: str, entry: Mapping[str, Any]) -> AgentSpec:
    """The entry as an `AgentSpec`, by the rules the built-in catalog passes, or InvalidInput
    naming every field that breaks one."""
    try:
        spec = AgentSpec.model_validate({"title": name, **entry, "name": name, "builtin": False})
    except ValidationError as exc:
        problems, fields = [], []
        for error in exc.errors():
            where = ".".join(str(part) for part in error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            problems.append(f"{where}: {message}" if where else message)
            fields.append({"field": f"body.{where}" if where else "body"})
        raise InvalidInput(
            f"the agent {name!r} cannot be added: {'; '.join(problems)}", details=fields
        ) from None
    agent_kinds = sorted(kind.value for kind in CredentialKind if kind != CredentialKind.ENV)
    for kind in spec.credentials:
        if kind == CredentialKind.ENV:
            raise InvalidInput(
                "an `env` credential needs no declaration: its name is the variable it sets, "
                "and it fits any agent",
                details=[{"field": "body.credentials.env"}],
            )
        if kind not in agent_kinds:
            raise InvalidInput(
                f"{kind!r} is not a credential kind; the kinds are {', '.join(agent_kinds)}",
                details=[{"field": f"body.credentials.{kind}"}],
            )
    return spec


async def add_custom_agent(
    db: AsyncSession,
    user_id: str,
    *,
    name: str,
    entry: Mapping[str, Any],
    replace: bool = False,
) -> tuple[AgentSpec, bool]:
    """Add the user's own agent from a catalog entry (`command` and the optional fields of
    builtin.toml's entries); with `replace`, an agent of that name is replaced, keeping its
    settings. Returns the agent and whether it is new."""
    validate_name(name, "agent")
    if name in builtin_agents():
        raise Conflict(f"{name!r} is a built-in agent; pick another name", reason="agent_exists")
    spec = _spec_of_entry(name, entry)
    row = await db.scalar(
        select(CustomAgent).where(CustomAgent.user_id == user_id, CustomAgent.name == name)
    )
    if row is not None and not replace:
        raise Conflict(
            f"you already have an agent named {name!r}; replace it with "
            f"`corral agent add {name} --replace …` (its settings stay)",
            reason="agent_exists",
        )
    created = row is None
    if row is None:
        row = CustomAgent(id=new_id("agt"), user_id=user_id, name=name)
        db.add(row)
    row.command = list(spec.command)
    row.entry = spec.model_dump(
        mode="json", exclude=_ENTRY_FIELDS_KEPT_APART, exclude_defaults=True
    )
    row.updated_at = utcnow()
    activity.record(
        db,
        "agent.added" if created else "agent.replaced",
        row,
        user_id=user_id,
        actor_id=user_id,
        details={"command": spec.command[0], "package": spec.package},
    )
    await db.commit()
    return spec, created


async def remove_custom_agent(db: AsyncSession, user_id: str, name: str) -> None:
    if name in builtin_agents():
        raise Conflict(f"{name!r} is built in and cannot be removed", reason="builtin_agent")
    row = await db.scalar(
        select(CustomAgent).where(CustomAgent.user_id == user_id, CustomAgent.name == name)
    )
    if row is None:
        raise NotFound(f"no agent named {name!r}")
    await db.delete(row)
    activity.record(db, "agent.removed", row, user_id=user_id, actor_id=user_id)
    await db.commit()


# -- settings ----------------------------------------------------------------------------------


def _validate_endpoint(endpoint: str) -> str:
    problem = endpoint_problem(endpoint)
    if problem:
        raise InvalidInput(problem, details=[{"field": "body.endpoint"}])
    return endpoint


def _check_takes_endpoint(spec: AgentSpec, *, at_start: bool = False) -> None:
    """Refuse an endpoint the agent has nowhere to put, rather than ignore it."""
    if spec.takes_endpoint:
        return
    if spec.builtin:
        fix = "its catalog entry has no endpoint setting"
    else:
        fix = (
            f"say how it takes one with `corral agent add {spec.name} --replace … "
            f"--endpoint-env VARIABLE` (or `--endpoint-arg ARG` with {ENDPOINT_PLACEHOLDER} in "
            "ARG)"
        )
    if at_start:
        fix += f", or clear it with `corral agent configure {spec.name} --clear endpoint`"
    raise InvalidInput(
        f"{spec.name} cannot use an endpoint: it names no variable or argument to pass the URL "
        f"in, so the URL would be ignored; {fix}",
        reason="endpoint_unsupported",
        details=None if at_start else [{"field": "body.endpoint"}],
    )


async def configure(
    db: AsyncSession,
    user_id: str,
    agent_name: str,
    *,
    project_id: str | None,
    credential: str | None = None,
    model: str | None = None,
    policy: Policy | None = None,
    endpoint: str | None = None,
    env: Mapping[str, str | None] | None = None,
    args: Sequence[str] | None = None,
    clear: Sequence[str] = (),
) -> AgentSetting:
    """Change the user's (or a project's) settings of an agent; fields left None stay as they
    are, `env` is a merge patch of the layer's variables (see `projects.patch_env`), and
    `clear` names fields to unset."""
    spec = await get_agent(db, user_id, agent_name)
    if endpoint is not None:
        _check_takes_endpoint(spec)
    scope = project_id or USER_SCOPE
    row = await db.scalar(
        select(AgentSetting).where(
            AgentSetting.user_id == user_id,
            AgentSetting.agent == spec.name,
            AgentSetting.scope == scope,
        )
    )
    if row is None:
        row = AgentSetting(
            id=new_id("ags"),
            user_id=user_id,
            agent=spec.name,
            project_id=project_id,
            scope=scope,
            env={},
        )
        db.add(row)
    unknown = set(clear) - {"credential", "model", "policy", "endpoint", "env", "args"}
    if unknown:
        raise InvalidInput(f"cannot clear {', '.join(sorted(unknown))}")
    if credential is not None:
        found = await credentials.get_credential(db, user_id, credential)
        _check_credential_kind(spec, found)
        row.credential_id = found.id
    if model is not None:
        row.model = model[:200]
    if policy is not None:
        row.policy = policy.value
    if endpoint is not None:
        row.endpoint = _validate_endpoint(endpoint)
    if env is not None:
        row.env = patch_env(row.env or {}, env)
    if args is not None:
        row.args = _validate_args(args, "body.args")
    for name in clear:
        setattr(
            row, "credential_id" if name == "credential" else name, {} if name == "env" else None
        )
    row.updated_at = utcnow()
    activity.record(
        db,
        "agent.configured",
        _Named(row.id, spec.name),
        user_id=user_id,
        actor_id=user_id,
        details={"project": project_id} if project_id else {},
    )
    await db.commit()
    return row


@dataclass(frozen=True)
class _Named:
    id: str
    name: str


def _check_credential_kind(
    spec: AgentSpec, credential: Credential, *, at_start: bool = False
) -> None:
    """The same rule for built-in and custom agents: an `env` credential fits any agent (its
    name is the variable it sets); any other kind only an agent that declares the variable it
    carries that kind in."""
    kind = credential.kind.value
    if credential.kind == CredentialKind.ENV or kind in spec.credentials:
        return
    fixes = []
    if spec.credentials:
        kinds = ", ".join(sorted(spec.credentials))
        problem = f"{spec.name} takes credentials of kind {kinds}, not {kind}"
        fixes.append(f"choose one of kind {kinds} (`corral credentials set KIND` stores one)")
    else:
        problem = (
            f"{spec.name} declares no credential kind, so a credential of kind {kind} has no "
            "variable to go in"
        )
    if not spec.builtin:
        fixes.append(
            f"declare the variable that carries {kind} with `corral agent add {spec.name} "
            f"--replace … --credential {kind}=VARIABLE`"
        )
    fixes.append("use an `env` credential (its name is the variable it sets)")
    raise InvalidInput(
        f"{problem}: {'; or '.join(fixes)}",
        reason="credential_kind",
        details=None if at_start else [{"field": "body.credential"}],
    )


async def settings_rows(
    db: AsyncSession, user_id: str, agent_name: str, project_id: str | None
) -> list[AgentSetting]:
    """The layers that apply, most general first: the user's, then the project's."""
    scopes = [USER_SCOPE, *([project_id] if project_id else [])]
    rows = (
        await db.scalars(
            select(AgentSetting).where(
                AgentSetting.user_id == user_id,
                AgentSetting.agent == agent_name,
                AgentSetting.scope.in_(scopes),
            )
        )
    ).all()
    return sorted(rows, key=lambda r: scopes.index(r.scope))


async def resolve(
    db: AsyncSession, user_id: str, agent_name: str, project_id: str | None
) -> ResolvedSettings:
    resolved = ResolvedSettings(agent=agent_name)
    for row in await settings_rows(db, user_id, agent_name, project_id):
        if row.credential_id is not None:
            resolved.credential_id = row.credential_id
        resolved.model = row.model or resolved.model
        resolved.policy = Policy(row.policy) if row.policy else resolved.policy
        resolved.endpoint = row.endpoint or resolved.endpoint
        resolved.env = {**resolved.env, **(row.env or {})}
        if row.args is not None:
            resolved.args = list(row.args)
    if resolved.credential_id is not None:
        found = await db.get(Credential, resolved.credential_id)
        resolved.credential = found.name if found else None
    return resolved


@dataclass(frozen=True)
class SettingsLayer:
    """What one layer sets itself (None: left to the layer below)."""

    credential: str | None = None
    model: str | None = None
    policy: Policy | None = None
    endpoint: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    args: list[str] | None = None


async def own_settings(
    db: AsyncSession, user_id: str, agent_name: str, project_id: str | None
) -> SettingsLayer:
    """The project's own settings with `project_id`, else the user's: for an editor, which
    shows what this layer sets apart from what it inherits."""
    scope = project_id or USER_SCOPE
    rows = await settings_rows(db, user_id, agent_name, project_id)
    row = next((r for r in rows if r.scope == scope), None)
    if row is None:
        return SettingsLayer()
    credential = await db.get(Credential, row.credential_id) if row.credential_id else None
    return SettingsLayer(
        credential=credential.name if credential else None,
        model=row.model,
        policy=Policy(row.policy) if row.policy else None,
        endpoint=row.endpoint,
        env=dict(row.env or {}),
        args=list(row.args) if row.args is not None else None,
    )


async def launch_for(
    db: AsyncSession,
    box: SecretBox,
    user_id: str,
    spec: AgentSpec,
    resolved: ResolvedSettings,
) -> tuple[AgentLaunch, dict[str, str]]:
    """What the node runs and the environment the agent gets (with the credential's value).

    Fails before anything runs when the agent needs a credential and none is set.
    """
    env = dict(resolved.env)
    if resolved.endpoint:
        _check_takes_endpoint(spec, at_start=True)
        for name in spec.endpoint_env:
            env[name] = resolved.endpoint
    credential = (
        await db.get(Credential, resolved.credential_id) if resolved.credential_id else None
    )
    given_by_env = any(name in env for name in spec.credentials.values())
    if credential is None and spec.credentials and not given_by_env:
        kinds = " or ".join(sorted(spec.credentials))
        raise InvalidInput(
            f"{spec.name} needs a credential: store one with `corral credentials set {kinds}` "
            f"and choose it with `corral agent configure {spec.name} --credential NAME`",
            reason="credential_missing",
        )
    if credential is not None:
        _check_credential_kind(spec, credential, at_start=True)  # the agent may have changed
        value = await credentials.reveal_credential(db, box, credential)
        if credential.kind == CredentialKind.ENV:
            env[credential.name] = value
        else:
            env[spec.credentials[credential.kind.value]] = value
    for key in env:
        if not ENV_NAME_PATTERN.match(key):
            raise InvalidInput(f"{key!r} is not a valid environment variable name")
    return spec.launch(endpoint=resolved.endpoint, extra_args=resolved.args), env
