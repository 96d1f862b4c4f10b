"""Bubblewrap confinement, tested by what a workspace process can and cannot do.

The tests run as root, as on CI, so file permissions stop nothing: every refusal here comes from
the mounts and the dropped capabilities. The node's directories live under /var/tmp, not /tmp,
so that hiding them is tested on its own and not by the replacement of /tmp.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.node import sandbox
from corral.node.runtimes.base import ExecResult, WorkspaceHandle
from corral.node.runtimes.host import HostRuntime, HostRuntimeSettings
from tests.unit.node.runtimes.support import make_origin, make_spec

TIMEOUT_SECONDS = 30.0
CREDENTIAL = "node-credential-value"


@pytest.fixture
def node_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="corral-sandbox-test-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path)


@pytest.fixture
def data_dir(node_dir: Path) -> Path:
    data = node_dir / "node"
    data.mkdir()
    credential = data / "node-credential"
    credential.write_text(CREDENTIAL)
    credential.chmod(0o600)
    return data


@pytest.fixture
def secret_dir(node_dir: Path) -> Path:
    secret = node_dir / "secret"
    secret.mkdir()
    (secret / "file").write_text("hidden by settings")
    (node_dir / "visible.txt").write_text("visible")
    (node_dir / "host.key").write_text("hidden by glob")
    return secret


@pytest.fixture
def runtime(data_dir: Path, node_dir: Path, secret_dir: Path) -> HostRuntime:
    settings = HostRuntimeSettings(
        sandbox="bwrap", hidden_paths=[str(secret_dir), f"{node_dir}/*.key"]
    )
    return HostRuntime(data_dir / "workspaces", data_dir=data_dir, settings=settings)


@pytest.fixture
def origin(tmp_path: Path) -> Path:
    return make_origin(tmp_path / "origin")


@pytest.fixture
async def workspace(runtime: HostRuntime, origin: Path) -> WorkspaceHandle:
    return await runtime.create(make_spec(origin), lambda _line: None)


@pytest.fixture
async def other(runtime: HostRuntime, origin: Path) -> WorkspaceHandle:
    handle = await runtime.create(make_spec(origin), lambda _line: None)
    (handle.repo / "other-secret.txt").write_text("other workspace")
    return handle


async def sh(runtime: HostRuntime, handle: WorkspaceHandle, script: str) -> ExecResult:
    return await runtime.exec(handle, ["sh", "-c", script], timeout_seconds=TIMEOUT_SECONDS)


def test_bubblewrap_works_here() -> None:
    """CI installs bubblewrap (scripts/test-deps.sh): it must work, not be skipped."""
    assert sandbox.bwrap_problem() is None
    assert sandbox.bwrap_available()


def test_a_missing_bwrap_is_reported() -> None:
    problem = sandbox.bwrap_problem("/nonexistent/bwrap")
    assert problem is not None
    assert "not installed" in problem
    assert not sandbox.bwrap_available("/nonexistent/bwrap")


async def test_the_node_credential_is_invisible(
    runtime: HostRuntime, workspace: WorkspaceHandle, data_dir: Path
) -> None:
    credential = data_dir / "node-credential"
    result = await sh(runtime, workspace, f"cat {credential}; ls -a {data_dir}")
    assert CREDENTIAL.encode() not in result.stdout
    assert b"node-credential" not in result.stdout
    assert b"No such file" in result.stderr


async def test_the_covers_cannot_be_removed(
    runtime: HostRuntime, workspace: WorkspaceHandle, data_dir: Path
) -> None:
    result = await sh(
        runtime,
        workspace,
        f"umount -l {data_dir}; cat {data_dir}/node-credential; grep Cap /proc/self/status",
    )
    assert CREDENTIAL.encode() not in result.stdout
    assert b"CapEff:\t0000000000000000" in result.stdout


async def test_another_workspace_is_invisible(
    runtime: HostRuntime, workspace: WorkspaceHandle, other: WorkspaceHandle
) -> None:
    result = await sh(
        runtime, workspace, f"cat {other.repo}/other-secret.txt; ls -a {runtime.workspaces_dir}"
    )
    assert b"other workspace" not in result.stdout
    assert other.workspace_id.encode() not in result.stdout
    assert workspace.workspace_id.encode() in result.stdout


async def test_hidden_paths_from_settings_are_invisible(
    runtime: HostRuntime, workspace: WorkspaceHandle, secret_dir: Path, node_dir: Path
) -> None:
    result = await sh(
        runtime, workspace, f"cat {secret_dir}/file {node_dir}/host.key {node_dir}/visible.txt"
    )
    assert result.stdout == b"visible"


async def test_a_workspace_under_a_hidden_directory_still_works(
    node_dir: Path, data_dir: Path, origin: Path
) -> None:
    """As when the node's data directory lives in a hidden home directory (/root/.local/...)."""
    settings = HostRuntimeSettings(sandbox="bwrap", hidden_paths=[str(node_dir)])
    runtime = HostRuntime(data_dir / "workspaces", data_dir=data_dir, settings=settings)
    handle = await runtime.create(make_spec(origin), lambda _line: None)
    result = await sh(runtime, handle, f"cat README.md; ls -a {node_dir}; touch {node_dir}/x")
    assert result.stdout.decode().split() == ["origin", ".", "..", "node"]
    assert b"Read-only file system" in result.stderr


async def test_nothing_outside_the_workspace_can_be_written(
    runtime: HostRuntime, workspace: WorkspaceHandle, data_dir: Path, node_dir: Path
) -> None:
    name = f"corral-escape-{uuid.uuid4().hex}"
    targets = [
        workspace.root / name,
        workspace.root / ".corral-stopped",
        Path("/usr") / name,
        data_dir / name,
        runtime.workspaces_dir / name,
        node_dir / name,
        Path("/var/tmp") / name,
    ]
    script = "; ".join(f"touch {target}" for target in targets)
    result = await sh(runtime, workspace, f"{script}; mount -o remount,rw /")
    assert result.stderr.count(b"Read-only file system") == len(targets)
    assert not any(target.exists() for target in targets)


async def test_the_workspace_itself_is_writable(
    runtime: HostRuntime, workspace: WorkspaceHandle
) -> None:
    result = await sh(runtime, workspace, "echo written > new.txt && echo ok > $HOME/in-home")
    assert result.exit_code == 0, result.stderr
    assert (workspace.repo / "new.txt").read_text() == "written\n"
    assert (workspace.home / "in-home").read_text() == "ok\n"


async def test_tmp_is_the_workspaces_own(
    runtime: HostRuntime, workspace: WorkspaceHandle, other: WorkspaceHandle
) -> None:
    name = f"corral-tmp-{uuid.uuid4().hex}"
    host_file = Path("/tmp") / name
    written_inside = Path("/tmp") / f"{name}.in"
    host_file.write_text("host")
    try:
        result = await sh(runtime, workspace, f"cat /tmp/{name}; echo inside > /tmp/{name}.in")
        assert b"host" not in result.stdout
    finally:
        host_file.unlink()
    assert not written_inside.exists()
    shared = await sh(runtime, workspace, f"cat /tmp/{name}.in")
    assert shared.stdout == b"inside\n"
    elsewhere = await sh(runtime, other, f"cat /tmp/{name}.in")
    assert elsewhere.stdout == b""


async def test_the_nodes_processes_and_their_environment_are_invisible(
    runtime: HostRuntime, workspace: WorkspaceHandle
) -> None:
    secret = f"node-env-{uuid.uuid4().hex}"
    probe = f"grep -ls {secret} /proc/[0-9]*/environ; ls /proc | grep -c '^[0-9]'"
    host_process = await asyncio.create_subprocess_exec(
        "sleep", "3600", env={"NODE_SECRET": secret}, start_new_session=True
    )
    try:
        on_host = await asyncio.create_subprocess_exec(
            "sh", "-c", probe, stdout=asyncio.subprocess.PIPE
        )
        host_output, _ = await asyncio.wait_for(on_host.communicate(), TIMEOUT_SECONDS)
        assert f"/proc/{host_process.pid}/environ".encode() in host_output
        inside = await sh(runtime, workspace, probe)
    finally:
        host_process.kill()
        await asyncio.wait_for(host_process.wait(), TIMEOUT_SECONDS)
    lines = inside.stdout.decode().split()
    assert lines == [lines[-1]], "no environ matched"
    assert int(lines[-1]) <= 4


async def test_killing_the_sandbox_ends_everything_in_it(
    runtime: HostRuntime, workspace: WorkspaceHandle
) -> None:
    """A background job holds stdout open, so EOF on stdout proves it died with the sandbox."""
    process = await runtime.spawn_process(
        workspace, ["sh", "-c", "sleep 3600 & echo started; wait"]
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), TIMEOUT_SECONDS)
        assert line == b"started\n"
        os.kill(process.pid, signal.SIGKILL)
        rest = await asyncio.wait_for(process.stdout.read(), TIMEOUT_SECONDS)
        assert rest == b""
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), TIMEOUT_SECONDS)


@pytest.mark.parametrize(("new_session", "expected"), [(False, b"ctty=yes"), (True, b"ctty=no")])
async def test_a_process_keeps_its_terminal_for_job_control(
    runtime: HostRuntime, workspace: WorkspaceHandle, new_session: bool, expected: bytes
) -> None:
    """Started on a PTY as a session's leader (as terminals are), the sandboxed shell still has
    that PTY as its controlling terminal, which job control needs. bwrap's `--new-session` would
    take it away; the second case shows this test would notice."""
    script = "if (: </dev/tty) 2>/dev/null; then echo ctty=yes; else echo ctty=no; fi"
    spec = runtime.command(workspace, ["sh", "-c", script])
    argv = list(spec.argv)
    assert "--new-session" not in argv
    if new_session:
        argv.insert(argv.index("--"), "--new-session")
    output = await asyncio.wait_for(_run_on_pty(argv, spec.env), TIMEOUT_SECONDS)
    assert expected in output


async def _run_on_pty(argv: list[str], env: dict[str, str]) -> bytes:
    master, slave = os.openpty()
    try:
        process = await asyncio.create_subprocess_exec(
            "setsid", "--ctty", "--wait", *argv, stdin=slave, stdout=slave, stderr=slave, env=env
        )
        try:
            await asyncio.wait_for(process.wait(), TIMEOUT_SECONDS)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
        os.close(slave)
        slave = -1
        return _drain(master)
    finally:
        os.close(master)
        if slave != -1:
            os.close(slave)


def _drain(fd: int) -> bytes:
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 4096)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_the_argv_hides_before_it_binds_and_seals_after(tmp_path: Path) -> None:
    hidden_dir = Path(tempfile.mkdtemp(dir="/var/tmp"))
    try:
        (hidden_dir / "nested").mkdir()
        argv = sandbox.bwrap_argv(
            ["true"],
            writable=[Path("/srv/ws/a/repo"), Path("/srv/ws/a/home")],
            tmp=Path("/srv/ws/a/tmp"),
            cwd=Path("/srv/ws/a/repo"),
            hidden=[hidden_dir, hidden_dir / "nested", "/etc/shadow", "/no/such/path", tmp_path],
        )
    finally:
        shutil.rmtree(hidden_dir)
    text = " ".join(argv)
    assert argv[:4] == ("bwrap", "--ro-bind", "/", "/")
    assert argv[-2:] == ("--", "true")
    assert f"--tmpfs {hidden_dir} " in text
    assert "nested" not in text
    assert "--ro-bind /dev/null /etc/shadow" in text
    assert "/no/such/path" not in text
    assert str(tmp_path) not in text, "anything under /tmp is replaced with /tmp itself"
    repo_bind = "--bind /srv/ws/a/repo /srv/ws/a/repo"
    assert text.index(f"--tmpfs {hidden_dir}") < text.index(repo_bind)
    assert text.index(repo_bind) < text.index(f"--remount-ro {hidden_dir}")
    assert "--bind /srv/ws/a/home /srv/ws/a/home" in text
    assert "--bind /srv/ws/a/tmp /tmp" in text
    assert "--chdir /srv/ws/a/repo" in text
    for option in ("--unshare-pid", "--unshare-ipc", "--die-with-parent", "--cap-drop ALL"):
        assert option in text
    assert "--new-session" not in text
    assert "--unshare-net" not in text


def test_hiding_the_root_directory_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot hide /"):
        sandbox.bwrap_argv(
            ["true"], writable=[], tmp=Path("/srv/a/tmp"), cwd=Path("/srv/a"), hidden=["/"]
        )
