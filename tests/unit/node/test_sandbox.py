"""The host runtime's sandbox, tested by what a workspace process can and cannot do, the way an
attacker with a shell in the workspace would try.

The tests run as root, as on CI and on cloud nodes: each workspace then runs as a uid of its
own, and every refusal below comes from the sandbox (mounts, uid, namespaces), not from the
test being unprivileged. The node's directories live under /var/tmp, not /tmp, so that hiding
them is tested on its own and not by the replacement of /tmp. (A node run as a normal user is
tested in tests/unit/node/test_sandbox_launcher.py and tests/integration/test_escapes.py.)
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.node.runtimes.base import ExecResult, WorkspaceHandle
from corral.node.runtimes.host import HostRuntime, HostRuntimeSettings
from tests.support.netns import outside_host
from tests.support.processes import alive, descendants
from tests.support.waits import eventually
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
def shown_dir(node_dir: Path) -> Path:
    """A directory the settings add to the allow-list, with a secret masked inside it."""
    shown = node_dir / "toolchain"
    (shown / "secret").mkdir(parents=True)
    files = {
        shown / "secret" / "file": "hidden by settings",
        shown / "bin.txt": "visible",
        shown / "host.key": "hidden by glob",
        shown / "root-only.txt": "only root reads this",
        node_dir / "not-listed.txt": "outside the allow-list",
    }
    for path, text in files.items():
        path.write_text(text)
        path.chmod(0o600 if path.name == "root-only.txt" else 0o644)
    for directory in (shown, shown / "secret"):
        directory.chmod(0o755)
    return shown


@pytest.fixture
def runtime(data_dir: Path, shown_dir: Path) -> HostRuntime:
    settings = HostRuntimeSettings(
        sandbox="bwrap",
        readable_paths=[str(shown_dir)],
        also_hidden_paths=[f"{shown_dir}/secret", f"{shown_dir}/*.key"],
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


# -- whom it runs as --------------------------------------------------------------------------


async def test_it_runs_as_the_workspaces_own_uid_with_no_privileges(
    runtime: HostRuntime, workspace: WorkspaceHandle, other: WorkspaceHandle
) -> None:
    script = "id -u; id -un; grep -E '^(CapEff|CapBnd|NoNewPrivs)' /proc/self/status"
    result = await sh(runtime, workspace, script)
    lines = result.stdout.decode().split("\n")
    uid = int(lines[0])
    assert uid >= runtime.settings.uid_range_start
    assert lines[1] == "corral"
    assert "CapEff:\t0000000000000000" in lines
    assert "CapBnd:\t0000000000000000" in lines
    assert "NoNewPrivs:\t1" in lines
    other_uid = int((await sh(runtime, other, "id -u")).stdout)
    assert other_uid != uid, "each workspace has a uid of its own"
    made = await sh(runtime, workspace, "touch made-inside && echo $HOME > home.txt")
    assert made.exit_code == 0, made.stderr
    assert (workspace.repo / "made-inside").stat().st_uid == uid
    assert (workspace.repo / "README.md").stat().st_uid == uid, "the clone is the workspace's"


async def test_kernel_settings_cannot_be_changed(
    runtime: HostRuntime, workspace: WorkspaceHandle
) -> None:
    host_name = socket.gethostname()
    settings = [
        "kernel/hostname",
        "kernel/core_pattern",
        "vm/drop_caches",
        "net/ipv4/ip_forward",
        "kernel/sysrq",
    ]
    script = "; ".join(
        f"(echo 1 > /proc/sys/{name}) 2>/dev/null || echo refused" for name in settings
    )
    result = await sh(
        runtime,
        workspace,
        f"{script}; hostname pwned || echo refused; grep ' /proc/sys ' /proc/mounts",
    )
    assert result.stdout.count(b"refused") == len(settings) + 1, result.stdout
    assert b"/proc/sys proc ro," in result.stdout
    assert socket.gethostname() == host_name
    assert _read("/proc/sys/kernel/core_pattern").strip() != "1"


async def test_the_hostname_is_the_workspaces(
    runtime: HostRuntime, workspace: WorkspaceHandle
) -> None:
    result = await sh(runtime, workspace, "hostname; cat /etc/hostname")
    expected = workspace.workspace_id.replace("_", "-")
    assert result.stdout.decode().split() == [expected, expected]


# -- what it sees -----------------------------------------------------------------------------


async def test_only_the_allow_list_is_visible(
    runtime: HostRuntime, workspace: WorkspaceHandle, node_dir: Path
) -> None:
    result = await sh(runtime, workspace, "ls /")
    assert set(result.stdout.decode().split()) <= {
        "bin",
        "dev",
        "etc",
        "lib",
        "lib32",
        "lib64",
        "libx32",
        "proc",
        "sbin",
        "tmp",
        "usr",
        "var",
        Path(node_dir).parts[1],  # the way down to the workspace and the shown dir
    }
    for path in ("/root", "/home", "/opt", "/srv", "/var/lib", "/run", "/mnt", "/work"):
        listing = await sh(runtime, workspace, f"ls -A {path}")
        assert listing.stdout == b"", path
    outside = await sh(runtime, workspace, f"cat {node_dir}/not-listed.txt")
    assert b"outside the allow-list" not in outside.stdout


async def test_the_node_credential_is_invisible(
    runtime: HostRuntime, workspace: WorkspaceHandle, data_dir: Path
) -> None:
    credential = data_dir / "node-credential"
    result = await sh(runtime, workspace, f"cat {credential}; ls -a {data_dir}")
    assert CREDENTIAL.encode() not in result.stdout
    assert b"node-credential" not in result.stdout


async def test_another_workspace_is_invisible(
    runtime: HostRuntime, workspace: WorkspaceHandle, other: WorkspaceHandle
) -> None:
    result = await sh(
        runtime, workspace, f"cat {other.repo}/other-secret.txt; ls -a {runtime.workspaces_dir}"
    )
    assert b"other workspace" not in result.stdout
    assert other.workspace_id.encode() not in result.stdout
    assert workspace.workspace_id.encode() in result.stdout


async def test_shown_paths_mask_their_secrets_and_keep_file_permissions(
    runtime: HostRuntime, workspace: WorkspaceHandle, shown_dir: Path
) -> None:
    names = ("secret/file", "host.key", "bin.txt", "root-only.txt")
    result = await sh(runtime, workspace, " ; ".join(f"cat {shown_dir}/{n}" for n in names))
    assert result.stdout == b"visible"
    assert b"Permission denied" in result.stderr, "a root-only file stays root's"


async def test_password_hashes_and_host_keys_are_masked(
    runtime: HostRuntime, workspace: WorkspaceHandle
) -> None:
    result = await sh(runtime, workspace, "wc -c < /etc/shadow; cat /etc/passwd")
    assert result.stdout.split(b"\n")[0] == b"0"
    assert b"corral:x:" in result.stdout
    assert not any(
        line.startswith(("daemon:", "sshd:")) for line in result.stdout.decode().split("\n")
    ), "only the sandbox's own accounts"


async def test_the_covers_cannot_be_removed(
    runtime: HostRuntime, workspace: WorkspaceHandle, data_dir: Path
) -> None:
    result = await sh(
        runtime,
        workspace,
        f"umount -l {data_dir}; umount -l /etc/shadow; cat {data_dir}/node-credential",
    )
    assert CREDENTIAL.encode() not in result.stdout


async def test_nothing_outside_the_workspace_can_be_written(
    runtime: HostRuntime, workspace: WorkspaceHandle, data_dir: Path, node_dir: Path
) -> None:
    name = f"corral-escape-{uuid.uuid4().hex}"
    targets = [
        workspace.repo.parent / name,
        workspace.repo.parent / ".corral-stopped",
        Path("/usr") / name,
        Path("/etc") / name,
        data_dir / name,
        runtime.workspaces_dir / name,
        node_dir / name,
    ]
    script = "; ".join(f"touch {target} 2>/dev/null || echo refused" for target in targets)
    result = await sh(runtime, workspace, f"{script}; mount -o remount,rw / || echo refused")
    assert result.stdout.count(b"refused") == len(targets) + 1
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
    shared = await sh(runtime, workspace, f"cat /tmp/{name}.in /var/tmp/{name}.in")
    assert shared.stdout == b"inside\ninside\n"
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


# -- what it reaches --------------------------------------------------------------------------


async def test_the_hosts_loopback_services_are_out_of_reach(
    runtime: HostRuntime, workspace: WorkspaceHandle
) -> None:
    """A port this test opens on the host's 127.0.0.1 (as the control plane's and a database's
    are) cannot be reached: not as 127.0.0.1, nor through slirp4netns's gateway."""
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        script = (
            f"for host in 127.0.0.1 10.0.2.2 10.0.2.3; do "
            f"(exec 3<>/dev/tcp/$host/{port}) 2>/dev/null && echo reached $host; done; "
            "echo done"
        )
        result = await runtime.exec(
            workspace, ["bash", "-c", script], timeout_seconds=TIMEOUT_SECONDS
        )
    finally:
        server.close()
    assert result.stdout == b"done\n", result.stdout


async def test_the_outside_world_is_reachable_through_its_own_network(
    runtime: HostRuntime, workspace: WorkspaceHandle
) -> None:
    with outside_host() as host:
        server = host.listen()
        port = server.getsockname()[1]
        accepted: list[str] = []

        def accept() -> None:
            connection, address = server.accept()
            accepted.append(address[0])
            connection.sendall(b"hello from outside\n")
            connection.close()

        waiter = asyncio.get_running_loop().run_in_executor(None, accept)
        try:
            script = f"exec 3<>/dev/tcp/{host.address}/{port}; cat <&3; ip -4 -o addr show tap0"
            result = await runtime.exec(
                workspace, ["bash", "-c", script], timeout_seconds=TIMEOUT_SECONDS
            )
            await asyncio.wait_for(waiter, TIMEOUT_SECONDS)
        finally:
            server.close()
    assert result.stdout.startswith(b"hello from outside\n"), result.stderr
    assert b"10.0.2.100/24" in result.stdout, "its own interface, not the host's"
    assert accepted and accepted[0] != "127.0.0.1"


async def test_the_hosts_mounts_are_left_alone(
    runtime: HostRuntime, workspace: WorkspaceHandle
) -> None:
    """Making a sandbox and its network must not change the host's mount table. (slirp4netns's
    own sandbox once unmounted the host's shared mounts, such as `ip netns`'s.)"""
    with outside_host():
        before = _mount_points()
        result = await sh(runtime, workspace, "true")
        assert result.exit_code == 0, result.stderr
        assert _mount_points() == before


def _mount_points() -> list[str]:
    with open("/proc/self/mountinfo") as file:
        return sorted(line.split()[4] for line in file)


# -- its life ---------------------------------------------------------------------------------


async def test_killing_the_sandbox_ends_everything_in_it(
    runtime: HostRuntime, workspace: WorkspaceHandle
) -> None:
    """A background job holds stdout open, so EOF on stdout proves it died with the sandbox;
    and the sandbox's network helper must go with it."""
    process = await runtime.spawn_process(
        workspace, ["sh", "-c", "sleep 3600 & echo started; wait"]
    )
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), TIMEOUT_SECONDS)
        assert line == b"started\n"
        helpers = descendants(process.pid)
        assert len(helpers) >= 4, "bwrap, slirp4netns, the sandbox's shell and its job"
        os.kill(process.pid, signal.SIGKILL)
        rest = await asyncio.wait_for(process.stdout.read(), TIMEOUT_SECONDS)
        assert rest == b""
    finally:
        if process.returncode is None:
            process.kill()
        await asyncio.wait_for(process.wait(), TIMEOUT_SECONDS)
    await eventually(
        lambda: not any(alive(pid) for pid in helpers),
        "the sandbox's processes gone",
        wait_seconds=TIMEOUT_SECONDS,
        context=lambda: f"still running: {[pid for pid in helpers if alive(pid)]}",
    )


def _read(path: str) -> str:
    with open(path) as file:
        return file.read()


@pytest.mark.parametrize(("wrap", "expected"), [([], b"ctty=yes"), (["setsid"], b"ctty=no")])
async def test_a_process_keeps_its_terminal_for_job_control(
    runtime: HostRuntime, workspace: WorkspaceHandle, wrap: list[str], expected: bytes
) -> None:
    """Started on a PTY as a session's leader (as terminals are), the sandboxed shell still has
    that PTY as its controlling terminal, which job control needs. A new session inside would
    take it away (bwrap's `--new-session` does that); the second case shows the test notices."""
    script = "if (: </dev/tty) 2>/dev/null; then echo ctty=yes; else echo ctty=no; fi"
    spec = runtime.command(workspace, [*wrap, "sh", "-c", script])
    output = await asyncio.wait_for(_run_on_pty(list(spec.argv), spec.env), TIMEOUT_SECONDS)
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
