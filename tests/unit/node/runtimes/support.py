"""Helpers for runtime tests: a local origin repository, specs, and each runtime to test."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable
from pathlib import Path

from corral.ids import new_id
from corral.node.runtimes.base import Runtime
from corral.node.runtimes.fake import FakeRuntime
from corral.node.runtimes.host import HostRuntime, HostRuntimeSettings
from corral.protocol.messages import WorkspaceSpec

__all__ = ["KINDS", "build_runtime", "git", "make_origin", "make_spec", "progress_sink"]

KINDS = ["host-bwrap", "host-none", "fake"]
GIT_TIMEOUT_SECONDS = 30.0
_GIT_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": "/dev/null",
    # A root node gives a checkout to the workspace's own uid; the test reads it as root.
    "GIT_CONFIG_COUNT": "1",
    "GIT_CONFIG_KEY_0": "safe.directory",
    "GIT_CONFIG_VALUE_0": "*",
    "GIT_AUTHOR_NAME": "Test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(cwd: Path, *args: str) -> str:
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env={**os.environ, **_GIT_ENV},
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_SECONDS,
        check=True,
    )
    return result.stdout


def make_origin(path: Path) -> Path:
    """A repository with a commit on `main` and one more on `dev`, which adds `dev.txt`."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    (path / "README.md").write_text("origin\n")
    git(path, "add", "README.md")
    git(path, "commit", "-q", "-m", "first")
    git(path, "checkout", "-q", "-b", "dev")
    (path / "dev.txt").write_text("only on dev\n")
    git(path, "add", "dev.txt")
    git(path, "commit", "-q", "-m", "dev")
    git(path, "checkout", "-q", "main")
    return path


def make_spec(repo: Path | str, *, branch: str = "main") -> WorkspaceSpec:
    return WorkspaceSpec(id=new_id("wsp"), name="ws", repo=str(repo), branch=branch)


def build_runtime(
    kind: str, workspaces_dir: Path, data_dir: Path, *, hidden_paths: list[str] | None = None
) -> Runtime:
    if kind == "fake":
        return FakeRuntime(workspaces_dir, data_dir=data_dir)
    values: dict[str, object] = {"sandbox": "bwrap" if kind == "host-bwrap" else "none"}
    if hidden_paths is not None:
        values["hidden_paths"] = hidden_paths
    settings = HostRuntimeSettings.model_validate(values)
    return HostRuntime(workspaces_dir, data_dir=data_dir, settings=settings)


def progress_sink() -> tuple[list[str], Callable[[str], None]]:
    lines: list[str] = []
    return lines, lines.append
