"""Fixtures for the runtime contract suite: every runtime, on fresh directories per test."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from corral.node.runtimes.base import Runtime, WorkspaceHandle
from tests.unit.node.runtimes.support import KINDS, build_runtime, make_origin, make_spec


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "node"


@pytest.fixture
def workspaces_dir(data_dir: Path) -> Path:
    return data_dir / "workspaces"


@pytest.fixture(params=KINDS)
def make_runtime(
    request: pytest.FixtureRequest, workspaces_dir: Path, data_dir: Path
) -> Callable[[], Runtime]:
    """Makes a new instance each call, on the same directories (as after a node restart)."""
    kind: str = request.param
    return lambda: build_runtime(kind, workspaces_dir, data_dir)


@pytest.fixture
def runtime(make_runtime: Callable[[], Runtime]) -> Runtime:
    return make_runtime()


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    return make_origin(tmp_path / "origin")


@pytest.fixture
async def handle(runtime: Runtime, origin: Path) -> WorkspaceHandle:
    spec = make_spec(origin)
    return await runtime.create(spec, lambda _line: None)
