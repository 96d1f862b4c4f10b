"""The contract every runtime keeps, run against `host` (with and without bubblewrap) and `fake`."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from corral.errors import InvalidInput
from corral.node.priority import AUTOGROUP_FILE
from corral.node.runtimes.base import (
    Runtime,
    RuntimeError_,
    RuntimeStatus,
    WorkspaceHandle,
)
from tests.unit.node.runtimes.support import make_spec, progress_sink

EXEC_TIMEOUT_SECONDS = 30.0


async def run(runtime: Runtime, handle: WorkspaceHandle, script: str, **env: str) -> list[str]:
    result = await runtime.exec(
        handle, ["sh", "-c", script], timeout_seconds=EXEC_TIMEOUT_SECONDS, env=env
    )
    assert result.exit_code == 0, result.stderr
    return result.stdout.decode().splitlines()


async def test_create_makes_the_checkout_and_a_home(runtime: Runtime, origin: Path) -> None:
    spec = make_spec(origin)
    handle = await runtime.create(spec, lambda _line: None)
    assert handle.workspace_id == spec.id
    assert handle.runtime == runtime.name
    root = runtime.workspaces_dir.resolve() / spec.id
    assert handle.repo.parent == root
    assert handle.home.parent == root
    assert (handle.repo / "README.md").is_file()
    assert handle.home.is_dir()
    assert await runtime.status(handle) is RuntimeStatus.RUNNING


async def test_create_reports_progress_line_by_line(runtime: Runtime, origin: Path) -> None:
    lines, sink = progress_sink()
    await runtime.create(make_spec(origin), sink)
    assert lines
    assert lines[0].startswith("Cloning into")
    assert all(line and "\r" not in line and "\n" not in line for line in lines)


async def test_create_is_idempotent(
    runtime: Runtime, handle: WorkspaceHandle, origin: Path
) -> None:
    spec = make_spec(origin)
    spec = spec.model_copy(update={"id": handle.workspace_id})
    (handle.repo / "work.txt").write_text("kept")
    again = await runtime.create(spec, lambda _line: None)
    assert again == handle
    assert (handle.repo / "work.txt").read_text() == "kept"


async def test_create_redoes_a_half_made_workspace(runtime: Runtime, origin: Path) -> None:
    spec = make_spec(origin)
    leftover = runtime.workspaces_dir / spec.id / "repo" / "partial"
    leftover.parent.mkdir(parents=True)
    leftover.write_text("from a crash")
    handle = await runtime.create(spec, lambda _line: None)
    assert not leftover.exists()
    assert (handle.repo / "README.md").is_file()
    assert await runtime.status(handle) is RuntimeStatus.RUNNING


async def test_a_failed_clone_raises_gits_message_and_leaves_nothing(
    runtime: Runtime, tmp_path: Path
) -> None:
    spec = make_spec(tmp_path / "no-such-repo")
    with pytest.raises(RuntimeError_) as caught:
        await runtime.create(spec, lambda _line: None)
    assert "does not exist" in caught.value.message
    assert "\n" not in caught.value.message
    assert not (runtime.workspaces_dir / spec.id).exists()


async def test_exec_runs_in_the_checkout_with_the_given_env_and_home(
    runtime: Runtime, handle: WorkspaceHandle
) -> None:
    lines = await run(
        runtime,
        handle,
        'pwd; echo "$HOME"; echo "$PROJECT_VAR"; echo "$TERM"; cat README.md',
        PROJECT_VAR="from-project",
    )
    assert lines[:4] == [str(handle.repo), str(handle.home), "from-project", "xterm-256color"]
    assert len(lines) > 4


async def test_processes_do_not_inherit_the_nodes_environment(
    runtime: Runtime, handle: WorkspaceHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CORRAL_TEST_NODE_SECRET", "node-only")
    spec = runtime.command(handle, ["env"])
    assert "CORRAL_TEST_NODE_SECRET" not in spec.env
    names = {line.split("=", 1)[0] for line in await run(runtime, handle, "env")}
    assert "CORRAL_TEST_NODE_SECRET" not in names
    assert {"PATH", "LANG", "TERM", "HOME", "USER", "SHELL"} <= names


async def test_spawned_process_starts_in_the_given_directory(
    runtime: Runtime, handle: WorkspaceHandle
) -> None:
    process = await runtime.spawn_process(handle, ["pwd"], cwd=handle.home)
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), EXEC_TIMEOUT_SECONDS)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert stdout.decode().strip() == str(handle.home)


def own_autogroup() -> str | None:
    """This process's scheduling group and its nice value, if the kernel groups sessions.

    The kernel shows an empty file for a process still in the root group (one started by a
    daemon that never began a session of its own, as CI's runner is), so that is ""."""
    path = Path(AUTOGROUP_FILE)
    return path.read_text().strip() if path.exists() else None


async def test_programs_run_below_the_node(runtime: Runtime, handle: WorkspaceHandle) -> None:
    """A busy workspace must not slow the node: its programs run at the runtime's nice value
    (10 on the host runtime), and so does the scheduling group of the session they are given
    where the kernel has one; the node itself keeps its own priority and group."""
    node_nice = os.getpriority(os.PRIO_PROCESS, 0)
    node_group = own_autogroup()
    lines = await run(runtime, handle, "nice; cat /proc/self/autogroup || true")
    assert int(lines[0]) == node_nice + runtime.program_nice
    if node_group is not None:
        assert len(lines) == 2 and lines[1].endswith(f"nice {runtime.program_nice}"), lines
        if node_group:
            assert lines[1].split()[0] != node_group.split()[0], "the node's own group"
    assert os.getpriority(os.PRIO_PROCESS, 0) == node_nice
    assert own_autogroup() == node_group


async def test_stop_start_and_status_persist_across_instances(
    make_runtime: Callable[[], Runtime], handle: WorkspaceHandle
) -> None:
    await make_runtime().stop(handle)
    after_restart = make_runtime()
    assert await after_restart.status(handle) is RuntimeStatus.STOPPED
    with pytest.raises(RuntimeError_) as caught:
        after_restart.command(handle, ["true"])
    assert caught.value.reason == "workspace_stopped"
    await after_restart.start(handle)
    assert await make_runtime().status(handle) is RuntimeStatus.RUNNING
    assert await run(make_runtime(), handle, "echo up") == ["up"]


async def test_stop_and_start_are_idempotent(runtime: Runtime, handle: WorkspaceHandle) -> None:
    await runtime.start(handle)
    await runtime.stop(handle)
    await runtime.stop(handle)
    assert await runtime.status(handle) is RuntimeStatus.STOPPED
    await runtime.start(handle)
    await runtime.start(handle)
    assert await runtime.status(handle) is RuntimeStatus.RUNNING


async def test_delete_removes_everything_and_is_idempotent(
    runtime: Runtime, handle: WorkspaceHandle
) -> None:
    locked = handle.repo / "locked"
    locked.mkdir()
    (locked / "file").write_text("x")
    locked.chmod(0o500)
    await runtime.delete(handle)
    assert not handle.repo.parent.exists()
    assert await runtime.status(handle) is RuntimeStatus.MISSING
    await runtime.delete(handle)
    await runtime.stop(handle)
    with pytest.raises(RuntimeError_):
        await runtime.start(handle)
    with pytest.raises(RuntimeError_) as caught:
        runtime.command(handle, ["true"])
    assert caught.value.reason == "workspace_missing"


async def test_status_is_missing_when_the_checkout_is_gone(
    runtime: Runtime, handle: WorkspaceHandle
) -> None:
    await asyncio.to_thread(shutil.rmtree, handle.repo)
    assert await runtime.status(handle) is RuntimeStatus.MISSING


@pytest.mark.parametrize("path", ["../../x", "../../../etc", "/etc/passwd", "/"])
async def test_paths_outside_the_workspace_are_refused(
    runtime: Runtime, handle: WorkspaceHandle, path: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        runtime.command(handle, ["true"], cwd=Path(path))
    assert caught.value.reason == "path_outside_workspace"


async def test_a_symlink_out_of_the_workspace_is_refused(
    runtime: Runtime, handle: WorkspaceHandle, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (handle.repo / "escape").symlink_to(outside)
    (handle.repo / "inside").symlink_to(handle.home)
    with pytest.raises(InvalidInput):
        runtime.command(handle, ["true"], cwd=Path("escape"))
    with pytest.raises(InvalidInput):
        runtime.command(handle, ["true"], cwd=Path("escape/file"))
    assert runtime.command(handle, ["true"], cwd=Path("inside")).cwd == handle.home.resolve()
    assert runtime.command(handle, ["true"], cwd=Path("../home")).cwd == handle.home.resolve()


async def test_a_handle_from_elsewhere_is_refused(
    runtime: Runtime, handle: WorkspaceHandle, tmp_path: Path
) -> None:
    foreign = handle.model_copy(update={"repo": tmp_path / "elsewhere" / "repo"})
    with pytest.raises(InvalidInput):
        runtime.command(foreign, ["true"])
    with pytest.raises(InvalidInput):
        await runtime.delete(foreign)
