"""The control plane without processes: the app's real state (SQLite in a temporary directory,
the live feeds, the node registry, the secret box) and nodes in memory (`MemoryNode`), for
tests of its services that run in milliseconds."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from corral.control.app import create_state
from corral.control.db.base import Base
from corral.control.db.engine import create_engine
from corral.control.db.models import AgentSession, Project, SessionEvent, User, Workspace
from corral.control.reconcilers import place_workspaces
from corral.control.services import agents, auth, workspaces
from corral.control.services.sessions import commands, queries
from corral.control.state import AppState
from corral.ids import new_id
from corral.settings import load_settings
from corral.states import WorkspaceState
from tests.support.memnode import MemoryNode

AGENT = "scripted"


@pytest.fixture(scope="session")
def empty_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database with the schema, made once and copied for each test."""
    path = tmp_path_factory.mktemp("schema") / "corral.db"

    async def make() -> None:
        engine = create_engine(f"sqlite+aiosqlite:///{path}")
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        await engine.dispose()

    asyncio.run(make())
    return path


@pytest.fixture
def setting_overrides() -> dict[str, Any]:
    """Settings a module's tests need beyond the defaults: a module overrides this fixture."""
    return {}


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """SQLite, unless a test asks for PostgreSQL as well:
    `@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)`."""
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
async def state(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    empty_database: Path,
    database: str,
    setting_overrides: dict[str, Any],
) -> AsyncIterator[AppState]:
    if database == "postgresql":
        database_url = request.getfixturevalue("postgres").create_database()
        engine = create_engine(database_url)
        async with engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        await engine.dispose()
    else:
        shutil.copyfile(empty_database, tmp_path / "corral.db")
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}"
    settings = load_settings(
        data_dir=tmp_path / "data", database_url=database_url, **setting_overrides
    )
    app_state = create_state(settings)
    try:
        yield app_state
    finally:
        await app_state.node_registry.close_all("the test ended")
        await app_state.engine.dispose()


@pytest.fixture
async def owner(state: AppState) -> User:
    async with state.db() as db:
        user, _ = await auth.ensure_owner(db, "owner")
    return user


@pytest.fixture
async def node(state: AppState, owner: User) -> AsyncIterator[MemoryNode]:
    memory = await MemoryNode.join(state, owner, "n1")
    try:
        yield memory
    finally:
        await memory.close()


async def add_project(
    state: AppState, owner: User, name: str, env: dict[str, str] | None = None
) -> Project:
    """A project, written as `projects.create_project` writes one (which asks git first)."""
    row = Project(
        id=new_id("prj"),
        user_id=owner.id,
        name=name,
        repo=f"https://git.example.invalid/{name}.git",
        default_branch="main",
        env=env or {},
    )
    async with state.db() as db:
        db.add(row)
        await db.commit()
    return row


@pytest.fixture
async def project(state: AppState, owner: User) -> Project:
    return await add_project(state, owner, "app", {"APP_ENV": "test"})


@dataclass
class Site:
    """A user's running workspace on a linked node, and an agent they can start in it; and
    what the user sees of their sessions."""

    state: AppState
    owner: User
    node: MemoryNode
    workspace: Workspace
    agent: str = AGENT

    async def start(self, **options: Any) -> AgentSession:
        """Start a session of the site's agent, and let the node report it ready."""
        async with self.state.db() as db:
            row = await commands.start(
                db,
                self.state.node_registry,
                self.state.secret_box,
                self.owner.id,
                workspace_ref=self.workspace.name,
                agent_name=options.pop("agent_name", self.agent),
                **options,
            )
        await self.node.flush()
        return await self.session(row.id)

    async def prompt(self, session_id: str, text: str) -> commands.Queued:
        async with self.state.db() as db:
            return await commands.prompt(
                db,
                self.state.node_registry,
                self.state.secret_box,
                self.owner.id,
                session_id,
                text=text,
            )

    async def stop(self, session_id: str) -> AgentSession:
        async with self.state.db() as db:
            return await commands.stop(
                db, self.state.node_registry, self.state.session_hub, self.owner.id, session_id
            )

    async def session(self, session_id: str) -> AgentSession:
        async with self.state.db() as db:
            return await queries.get_session(db, self.owner.id, session_id)

    async def events(self, session_id: str, *, after: int = 0) -> list[SessionEvent]:
        async with self.state.db() as db:
            _, events = await queries.list_events(
                db, self.owner.id, session_id, after=after, limit=5000
            )
        return list(events)

    async def kinds(self, session_id: str, *, after: int = 0) -> list[str]:
        """The transcript's events as `kind` (`state:idle` for states)."""
        return [
            f"state:{e.payload['state']}" if e.kind == "state" else e.kind
            for e in await self.events(session_id, after=after)
        ]


@pytest.fixture
async def site(state: AppState, owner: User, node: MemoryNode, project: Project) -> Site:
    async with state.db() as db:
        workspace = await workspaces.create_workspace(
            db, owner.id, project_ref="app", name="ws", branch=None, node_ref=None
        )
        await agents.add_custom_agent(
            db, owner.id, name=AGENT, entry={"command": ["/usr/bin/scripted-agent"]}
        )
    assert await place_workspaces(state) == 1
    await node.report(workspace.id, WorkspaceState.RUNNING)
    async with state.db() as db:
        workspace = await workspaces.get_workspace(db, owner.id, workspace.id)
    return Site(state, owner, node, workspace)
