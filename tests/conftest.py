"""Fixtures shared by every test: databases (SQLite and a real PostgreSQL), the app, users, a
private Docker engine and a real SSH server."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import nullcontext
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from corral.control.app import create_app
from corral.settings import Settings, load_settings
from tests.support.api import ApiUser, invite, sign_in_owner
from tests.support.docker import DockerEngine
from tests.support.gitserver import git_daemon
from tests.support.images import base_image
from tests.support.postgres import PostgresServer
from tests.support.sshd import SshKeyPair, SshServer, make_key_pair


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that uses the Docker engine is marked `docker`, so `-m "not docker"` leaves
    them all out without each file having to say so."""
    for item in items:
        if "docker_engine" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(autouse=True)
def _restore_umask() -> Iterator[None]:
    """Code under test may set the process umask (the control plane's data directory sets 077
    for the rest of the process): keep one test's from reaching the files the next one makes."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield
    os.umask(previous)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """A private dockerd behind an outside host (tests/support/docker.py), started when a test
    first asks for it, so sessions without Docker tests never start it."""
    with DockerEngine() as engine:
        yield engine


@pytest.fixture(scope="session")
def docker_base_image(docker_engine: DockerEngine, pytestconfig: pytest.Config) -> str:
    """The minimal Debian image (tests/support/images.py) in `docker_engine`. A first build
    takes half a minute, so its progress is shown even while pytest captures output."""
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")

    def progress(line: str) -> None:
        with capture.global_and_fixture_disabled() if capture else nullcontext():
            print(line, file=sys.stderr, flush=True)

    return base_image(docker_engine, progress=progress)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each data-layer test runs twice: on embedded SQLite and on the real PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'corral.db'}"
    server: PostgresServer = request.getfixturevalue("postgres")
    return server.create_database()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return load_settings(data_dir=tmp_path / "data", database_url=database_url)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def owner(app: FastAPI, client: httpx.AsyncClient) -> ApiUser:
    return await sign_in_owner(app, client)


@pytest.fixture
async def other_user(client: httpx.AsyncClient, owner: ApiUser) -> ApiUser:
    return await invite(client, owner, "other")


def make_git_repo(repo: Path) -> Path:
    """A git repository with a `main` and a `dev` branch."""
    repo.mkdir(parents=True)

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    (repo / "README.md").write_text("demo\n")
    git("add", "README.md")
    git("-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "init")
    git("branch", "dev")
    return repo


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """A local git repository with a `main` and a `dev` branch."""
    return make_git_repo(tmp_path / "repo")


@pytest.fixture(scope="session")
def git_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A repository like `git_repo` served by a real `git daemon` on 127.0.0.1, as a remote
    repository is. Shared by the session: no test changes it."""
    repo = make_git_repo(tmp_path_factory.mktemp("served") / "repo")
    with git_daemon(repo.parent) as served:
        yield f"{served}/{repo.name}"


@pytest.fixture(scope="session")
def ssh_client_key(tmp_path_factory: pytest.TempPathFactory) -> SshKeyPair:
    """A key pair `sshd` lets in: its `private_key` is what a user stores as an ssh-key
    credential."""
    return make_key_pair(tmp_path_factory.mktemp("ssh-client"), "client")


@pytest.fixture(scope="session")
def sshd(
    ssh_client_key: SshKeyPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SshServer]:
    """A real OpenSSH server on 127.0.0.1 (tests/support/sshd.py) letting the current user in
    with `ssh_client_key`, started when a test first asks for it. A test that changes its host
    key (`other_host_key`) puts the original back."""
    with SshServer([ssh_client_key], tmp_path_factory.mktemp("sshd")) as server:
        yield server
