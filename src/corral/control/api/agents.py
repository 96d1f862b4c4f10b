"""Routes for the agent catalog and agent settings."""

from __future__ import annotations

from fastapi import APIRouter, Response

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db
from corral.control.catalog import AgentSpec
from corral.control.schemas.agents import (
    AgentAdd,
    AgentEntry,
    AgentPublic,
    AgentSettingsLayer,
    AgentSettingsPublic,
    AgentSettingsUpdate,
)
from corral.control.schemas.fields import AgentName, ProjectRefQuery
from corral.control.services import agents, projects

router = APIRouter(prefix=f"{API_PREFIX}/agents", tags=["agents"])


def _public(spec: AgentSpec) -> AgentPublic:
    return AgentPublic(
        **spec.model_dump(exclude={"name", "title", "builtin"}),
        name=spec.name,
        title=spec.title,
        builtin=spec.builtin,
        credential_kinds=sorted(spec.credentials),
        endpoint=spec.takes_endpoint,
    )


@router.get("")
async def list_agents(user: CurrentUser, db: Db) -> list[AgentPublic]:
    """The built-in agents and the ones you added."""
    return [_public(spec) for spec in await agents.agents_for(db, user.id)]


@router.post("", status_code=201)
async def add_agent(body: AgentAdd, user: CurrentUser, db: Db) -> AgentPublic:
    """Add an ACP agent of your own: a catalog entry, as the built-in agents have (a program
    that speaks ACP on stdin and stdout, from an npm package or on the node)."""
    spec, _ = await agents.add_custom_agent(
        db,
        user.id,
        name=body.name,
        entry=body.model_dump(mode="json", exclude={"name"}, exclude_none=True),
    )
    return _public(spec)


@router.put(
    "/{agent}",
    response_description="Replaced",
    responses={201: {"model": AgentPublic, "description": "Created"}},
)
async def set_agent(
    agent: AgentName, body: AgentEntry, user: CurrentUser, db: Db, response: Response
) -> AgentPublic:
    """Add your agent `agent`, or replace its entry if you have one (201 when new); its
    settings stay."""
    spec, created = await agents.add_custom_agent(
        db, user.id, name=agent, entry=body.model_dump(mode="json", exclude_none=True), replace=True
    )
    response.status_code = 201 if created else 200
    return _public(spec)


@router.get("/{agent}")
async def get_agent(agent: AgentName, user: CurrentUser, db: Db) -> AgentPublic:
    return _public(await agents.get_agent(db, user.id, agent))


@router.delete("/{agent}", status_code=204)
async def remove_agent(agent: AgentName, user: CurrentUser, db: Db) -> None:
    await agents.remove_custom_agent(db, user.id, agent)


async def _settings(
    db: Db, user_id: str, agent: str, project_id: str | None
) -> AgentSettingsPublic:
    resolved = await agents.resolve(db, user_id, agent, project_id)
    own = await agents.own_settings(db, user_id, agent, project_id)
    return AgentSettingsPublic(
        agent=agent,
        project_id=project_id,
        credential=resolved.credential,
        model=resolved.model,
        policy=resolved.policy,
        endpoint=resolved.endpoint,
        env=resolved.env,
        args=resolved.args,
        own=AgentSettingsLayer.model_validate(own, from_attributes=True),
    )


@router.get("/{agent}/settings")
async def get_settings(
    agent: AgentName, user: CurrentUser, db: Db, project: ProjectRefQuery = None
) -> AgentSettingsPublic:
    """The settings a session gets: the project's over yours over the catalog's."""
    spec = await agents.get_agent(db, user.id, agent)
    project_id = (await projects.get_project(db, user.id, project)).id if project else None
    return await _settings(db, user.id, spec.name, project_id)


@router.patch("/{agent}/settings")
async def update_settings(
    agent: AgentName, body: AgentSettingsUpdate, user: CurrentUser, db: Db
) -> AgentSettingsPublic:
    project_id = (
        (await projects.get_project(db, user.id, body.project)).id if body.project else None
    )
    await agents.configure(
        db,
        user.id,
        agent,
        project_id=project_id,
        credential=body.credential,
        model=body.model,
        policy=body.policy,
        endpoint=body.endpoint,
        env=body.env,
        args=body.args,
        clear=body.clear,
    )
    return await _settings(db, user.id, agent, project_id)
