"""The fake runtime's injected failures, which tests of the node and control plane rely on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from corral.node.runtimes.base import RuntimeError_, RuntimeStatus
from corral.node.runtimes.fake import FakeRuntime, FakeRuntimeSettings
from tests.unit.node.runtimes.support import make_spec, progress_sink

WAIT_SECONDS = 30.0


async def test_fail_create_with_fails_every_create_and_leaves_nothing(
    workspaces_dir: Path, origin: Path
) -> None:
    settings = FakeRuntimeSettings(fail_create_with="fatal: the fake says no")
    runtime = FakeRuntime(workspaces_dir, settings=settings)
    spec = make_spec(origin)
    with pytest.raises(RuntimeError_) as caught:
        await runtime.create(spec, lambda _line: None)
    assert caught.value.message == "fatal: the fake says no"
    assert caught.value.reason == "clone_failed"
    assert not (workspaces_dir / spec.id).exists()


async def test_a_slow_create_can_be_cancelled_and_leaves_nothing(
    workspaces_dir: Path, origin: Path
) -> None:
    runtime = FakeRuntime(workspaces_dir, settings=FakeRuntimeSettings(create_delay_seconds=3600))
    spec = make_spec(origin)
    started = asyncio.Event()
    task = asyncio.create_task(runtime.create(spec, lambda _line: started.set()))
    await asyncio.wait_for(started.wait(), WAIT_SECONDS)
    assert (workspaces_dir / spec.id).is_dir()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, WAIT_SECONDS)
    assert not (workspaces_dir / spec.id).exists()


async def test_the_checkout_is_a_readme_and_commands_run_unconfined(
    workspaces_dir: Path, origin: Path
) -> None:
    runtime = FakeRuntime(workspaces_dir)
    lines, sink = progress_sink()
    handle = await runtime.create(make_spec(origin, branch="dev"), sink)
    assert lines == ["Cloning into 'repo'...", "done."]
    assert "at dev" in (handle.repo / "README.md").read_text()
    assert runtime.command(handle, ["true"]).argv == ("true",)
    assert await runtime.status(handle) is RuntimeStatus.RUNNING
