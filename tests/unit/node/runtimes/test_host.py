"""What only the `host` runtime does: real git clones, their failures, and choosing the sandbox."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pydantic
import pytest

from corral.node.runtimes import host as host_module
from corral.node.runtimes.base import RuntimeError_
from corral.node.runtimes.gitclone import LineSplitter
from corral.node.runtimes.host import HostRuntime, HostRuntimeSettings
from tests.unit.node.runtimes.support import git, make_spec, progress_sink

CREATE_TIMEOUT_SECONDS = 60.0


@pytest.fixture(params=["bwrap", "none"])
def host(request: pytest.FixtureRequest, workspaces_dir: Path, data_dir: Path) -> HostRuntime:
    settings = HostRuntimeSettings(sandbox=request.param, clone_timeout_seconds=30)
    return HostRuntime(workspaces_dir, data_dir=data_dir, settings=settings)


async def test_a_named_branch_is_checked_out(host: HostRuntime, origin: Path) -> None:
    handle = await host.create(make_spec(origin, branch="dev"), lambda _line: None)
    assert (handle.repo / "dev.txt").read_text() == "only on dev\n"
    result = await host.exec(
        handle, ["git", "rev-parse", "--abbrev-ref", "HEAD"], timeout_seconds=30
    )
    assert result.stdout.decode().strip() == "dev", (result.exit_code, result.stderr)
    assert git(handle.repo, "branch", "--list").split() == ["*", "dev"]


async def test_a_missing_branch_fails_with_gits_message(host: HostRuntime, origin: Path) -> None:
    spec = make_spec(origin, branch="no-such-branch")
    with pytest.raises(RuntimeError_) as caught:
        await host.create(spec, lambda _line: None)
    assert caught.value.reason == "clone_failed"
    assert caught.value.message == (
        "fatal: Remote branch no-such-branch not found in upstream origin"
    )
    assert not (host.workspaces_dir / spec.id).exists()


async def test_progress_redrawn_with_carriage_returns_arrives_as_lines(
    host: HostRuntime, origin: Path
) -> None:
    lines, sink = progress_sink()
    await host.create(make_spec(f"file://{origin}"), sink)
    assert any(line.startswith("Receiving objects: 100%") for line in lines)


async def test_credentials_in_the_url_stay_out_of_the_message(host: HostRuntime) -> None:
    lines, sink = progress_sink()
    with socket.socket() as refusing:  # bound but never listening: a connection is refused
        refusing.bind(("127.0.0.1", 0))
        port = refusing.getsockname()[1]
        spec = make_spec(f"http://someone:t0ps3cret@127.0.0.1:{port}/repo.git")
        with pytest.raises(RuntimeError_) as caught:
            await host.create(spec, sink)
    assert caught.value.message.startswith("fatal:")
    assert "t0ps3cret" not in caught.value.message
    assert not any("t0ps3cret" in line for line in lines)


@pytest.fixture
async def silent_git_server() -> AsyncIterator[int]:
    """A git:// server on loopback that accepts connections and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_clone_that_hangs_is_killed_at_the_timeout(
    workspaces_dir: Path, data_dir: Path, silent_git_server: int
) -> None:
    settings = HostRuntimeSettings(sandbox="none", clone_timeout_seconds=0.5)
    host = HostRuntime(workspaces_dir, data_dir=data_dir, settings=settings)
    spec = make_spec(f"git://127.0.0.1:{silent_git_server}/repo.git")
    with pytest.raises(RuntimeError_) as caught:
        await asyncio.wait_for(host.create(spec, lambda _line: None), CREATE_TIMEOUT_SECONDS)
    assert caught.value.reason == "clone_timeout"
    assert not (workspaces_dir / spec.id).exists()


async def test_a_cancelled_create_leaves_nothing(
    workspaces_dir: Path, data_dir: Path, silent_git_server: int
) -> None:
    host = HostRuntime(workspaces_dir, data_dir=data_dir, settings=HostRuntimeSettings())
    spec = make_spec(f"git://127.0.0.1:{silent_git_server}/repo.git")
    started = asyncio.Event()
    task = asyncio.create_task(host.create(spec, lambda _line: started.set()))
    await asyncio.wait_for(started.wait(), CREATE_TIMEOUT_SECONDS)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, CREATE_TIMEOUT_SECONDS)
    assert not (workspaces_dir / spec.id).exists()


async def test_a_repository_in_the_nodes_own_directories_is_refused(
    host: HostRuntime, origin: Path, data_dir: Path
) -> None:
    first = await host.create(make_spec(origin), lambda _line: None)
    for repo in (
        str(first.repo),
        f"file://{first.repo}",
        f"../{first.workspace_id}/repo",
        str(data_dir),
    ):
        spec = make_spec(repo)
        with pytest.raises(RuntimeError_) as caught:
            await host.create(spec, lambda _line: None)
        assert caught.value.reason == "repo_forbidden", repo
        assert not (host.workspaces_dir / spec.id).exists()


def _probe_failing(*, missing: str, monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Make the sandbox probe fail for the network (`missing="network"`) or for everything;
    returns the `network` argument of each probe made."""
    calls: list[bool] = []

    def probe(*, uid: int | None, network: bool) -> str | None:
        calls.append(network)
        if missing == "all" or network:
            return "bwrap is not installed" if missing == "all" else "slirp4netns failed"
        return None

    monkeypatch.setattr(host_module, "sandbox_problem", probe)
    return calls


@pytest.mark.parametrize("missing", ["all", "network"])
def test_the_bwrap_setting_refuses_a_partial_sandbox(
    monkeypatch: pytest.MonkeyPatch, workspaces_dir: Path, data_dir: Path, missing: str
) -> None:
    _probe_failing(missing=missing, monkeypatch=monkeypatch)
    with pytest.raises(RuntimeError_) as caught:
        HostRuntime(
            workspaces_dir, data_dir=data_dir, settings=HostRuntimeSettings(sandbox="bwrap")
        )
    assert caught.value.reason == "sandbox_unavailable"
    expected = "bwrap is not installed" if missing == "all" else "slirp4netns failed"
    assert expected in caught.value.message


def test_auto_runs_unconfined_with_a_warning_without_bubblewrap(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    workspaces_dir: Path,
    data_dir: Path,
) -> None:
    _probe_failing(missing="all", monkeypatch=monkeypatch)
    with caplog.at_level(logging.WARNING, logger="corral.runtimes"):
        host = HostRuntime(workspaces_dir, data_dir=data_dir)
    assert not host.sandboxed
    assert "without a sandbox" in caplog.text
    assert host.isolation.sandbox == "none"
    assert host.isolation.problems == ["no sandbox: bwrap is not installed"]


def test_auto_keeps_the_rest_of_the_sandbox_without_its_network(
    monkeypatch: pytest.MonkeyPatch, workspaces_dir: Path, data_dir: Path
) -> None:
    _probe_failing(missing="network", monkeypatch=monkeypatch)
    host = HostRuntime(workspaces_dir, data_dir=data_dir)
    assert host.sandboxed
    assert (host.isolation.sandbox, host.isolation.network) == ("bwrap", "host")
    assert host.isolation.problems == ["no network isolation: slirp4netns failed"]


def test_auto_uses_the_whole_sandbox_when_it_works(workspaces_dir: Path, data_dir: Path) -> None:
    """CI installs bubblewrap and slirp4netns (scripts/test-deps.sh): all of it must work."""
    host = HostRuntime(workspaces_dir, data_dir=data_dir)
    assert host.sandboxed
    assert host.isolation.model_dump() == {
        "sandbox": "bwrap",
        "user": "workspace_uid",  # the suite runs as root, as cloud nodes do
        "network": "isolated",
        "file_access": "openat2",
        "problems": [],
    }


def test_a_shared_network_is_a_choice_not_a_probe(
    monkeypatch: pytest.MonkeyPatch, workspaces_dir: Path, data_dir: Path
) -> None:
    calls = _probe_failing(missing="network", monkeypatch=monkeypatch)
    settings = HostRuntimeSettings(sandbox="bwrap", network="host")
    host = HostRuntime(workspaces_dir, data_dir=data_dir, settings=settings)
    assert calls == [False]
    assert (host.isolation.network, host.isolation.problems) == ("host", [])


def test_none_never_probes(
    monkeypatch: pytest.MonkeyPatch, workspaces_dir: Path, data_dir: Path
) -> None:
    calls = _probe_failing(missing="all", monkeypatch=monkeypatch)
    settings = HostRuntimeSettings(sandbox="none")
    assert not HostRuntime(workspaces_dir, data_dir=data_dir, settings=settings).sandboxed
    assert calls == []


def test_a_kernel_without_openat2_is_refused(
    monkeypatch: pytest.MonkeyPatch, workspaces_dir: Path, data_dir: Path
) -> None:
    monkeypatch.setattr(host_module, "openat2_problem", lambda: "this kernel has no openat2")
    with pytest.raises(RuntimeError_) as caught:
        HostRuntime(workspaces_dir, data_dir=data_dir, settings=HostRuntimeSettings())
    assert caught.value.reason == "openat2_unavailable"


@pytest.mark.parametrize("path", ["relative/path", "/", ""])
def test_hidden_paths_must_be_absolute(path: str) -> None:
    with pytest.raises(pydantic.ValidationError):
        HostRuntimeSettings(hidden_paths=[path])


def test_line_splitter_splits_on_carriage_returns_and_newlines() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b"Receiving objects:  50% (1/2)\rReceiving obj") == [
        "Receiving objects:  50% (1/2)"
    ]
    assert splitter.feed(b"ects: 100% (2/2), done.   \r\n\nfatal: x") == [
        "Receiving objects: 100% (2/2), done."
    ]
    assert splitter.close() == ["fatal: x"]


def test_line_splitter_decodes_utf8_across_chunks_and_bounds_lines() -> None:
    splitter = LineSplitter(max_chars=10)
    encoded = "héllo\n".encode()
    assert splitter.feed(encoded[:2]) == []
    assert splitter.feed(encoded[2:]) == ["héllo"]
    assert splitter.feed(b"x" * 25) == ["x" * 10]
    assert splitter.feed(b"\xff\n") == ["\ufffd"]


def test_line_splitter_redacts_credentials() -> None:
    lines = LineSplitter().feed(b"fatal: unable to access 'https://me:tok@example.com/r/'\n")
    assert lines == ["fatal: unable to access 'https://***@example.com/r/'"]


async def test_a_missing_git_is_a_runtime_error(
    monkeypatch: pytest.MonkeyPatch, workspaces_dir: Path, data_dir: Path, origin: Path
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    host = HostRuntime(workspaces_dir, data_dir=data_dir, settings=HostRuntimeSettings())
    spec = make_spec(origin)
    with pytest.raises(RuntimeError_) as caught:
        await host.create(spec, lambda _line: None)
    assert caught.value.reason == "git_unavailable"
    assert not (workspaces_dir / spec.id).exists()
