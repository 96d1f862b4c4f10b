"""The sandbox launcher on its own: the bwrap command line it builds, how it fails, how it dies,
and a node that is not root (the launcher run as an unprivileged user)."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from corral.node.sandbox import DEFAULT_SYSTEM_PATHS, LAUNCHER, launcher_argv
from corral.node.sandbox.launcher import LAUNCH_FAILED, SandboxSpec, bwrap_argv
from tests.support.processes import alive, all_pids, cmdline, descendants
from tests.support.waits import eventually_sync

TIMEOUT_SECONDS = 30.0
NOBODY = 65534


def _argv(spec: SandboxSpec) -> list[str]:
    fds = itertools.count(100)
    return bwrap_argv(spec, file_fds={}, empty_fd=lambda: next(fds))


def _spec(tmp_path: Path, **values: object) -> SandboxSpec:
    workspace = tmp_path / "ws"
    for name in ("repo", "home", "tmp"):
        (workspace / name).mkdir(parents=True, exist_ok=True)
    defaults: dict[str, object] = {
        "command": ["true"],
        "cwd": str(workspace / "repo"),
        "tmp": str(workspace / "tmp"),
        "writable": [str(workspace / "repo"), str(workspace / "home")],
        "system": list(DEFAULT_SYSTEM_PATHS),
    }
    return SandboxSpec(**{**defaults, **values})  # type: ignore[arg-type]


def test_the_spec_travels_as_json_and_refuses_unknown_fields(tmp_path: Path) -> None:
    spec = _spec(tmp_path, uid=1800000001, gid=1800000001, files={"/etc/hostname": "x\n"})
    assert SandboxSpec.from_json(spec.to_json()) == spec
    with pytest.raises(ValueError, match="unknown sandbox spec fields: shell"):
        SandboxSpec.from_json(json.dumps({**json.loads(spec.to_json()), "shell": "x"}))


def test_a_root_node_drops_to_the_workspace_uid_after_bwrap(tmp_path: Path) -> None:
    argv = _argv(_spec(tmp_path, uid=1800000001, gid=1800000001, network=True))
    command = argv[argv.index("--") + 1 :]
    assert command[:2] == ["/usr/bin/setpriv", "--reuid=1800000001"]
    assert {"--clear-groups", "--bounding-set=-all", "--inh-caps=-all", "--no-new-privs"} <= set(
        command
    )
    assert command[-1] == "true"
    assert "--unshare-user" not in argv, "a root-made user namespace would map to root"
    assert "--unshare-net" in argv


def test_a_non_root_node_uses_a_user_namespace_that_cannot_nest(tmp_path: Path) -> None:
    argv = _argv(_spec(tmp_path))
    assert {"--unshare-user", "--disable-userns"} <= set(argv)
    assert "setpriv" not in " ".join(argv)
    assert "--unshare-net" not in argv
    for option in ("--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"):
        assert option in argv


def test_mounts_go_outermost_first_and_masks_seal_last(tmp_path: Path) -> None:
    """A node whose data directory sits inside a shown directory: the data directory is
    covered, the workspace inside it is shown again on top, the cover sealed at the end."""
    shown = tmp_path / "shown"
    data = shown / "node"
    (data / "secret").mkdir(parents=True)
    (shown / "key.pem").write_text("k")
    spec = _spec(data, readable=[str(shown)], hidden=[str(data), f"{shown}/key.pem"])
    argv = _argv(spec)
    text = " ".join(argv)
    repo = spec.writable[0]
    assert text.index(f"--ro-bind {shown} {shown}") < text.index(f"--tmpfs {data}")
    assert text.index(f"--tmpfs {data}") < text.index(f"--bind {repo} {repo}")
    assert text.index(f"--bind {repo} {repo}") < text.index(f"--remount-ro {data}")
    assert f"--ro-bind-data 100 {shown}/key.pem" in text
    assert f"--perms 0755 --dir {data / 'ws'}" in text, "parents made traversable"


def test_hiding_the_root_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot hide /"):
        _argv(_spec(tmp_path, hidden=["/"], readable=["/"]))


def _launch(spec: SandboxSpec) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        launcher_argv(spec), capture_output=True, timeout=TIMEOUT_SECONDS, check=False
    )


def test_a_bad_spec_is_one_clear_line(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(LAUNCHER), "{not json"],
        capture_output=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )
    assert result.returncode == LAUNCH_FAILED
    assert result.stderr.startswith(b"corral: cannot start the workspace's sandbox:")
    assert b"Traceback" not in result.stderr


def test_without_its_network_the_command_never_runs(tmp_path: Path) -> None:
    """sandbox = bwrap must never quietly weaken: if slirp4netns fails, nothing runs."""
    marker = tmp_path / "ws" / "repo" / "ran"
    spec = _spec(
        tmp_path,
        command=["sh", "-c", f"touch {marker}"],
        uid=NOBODY,
        gid=NOBODY,
        network=True,
        slirp4netns="/bin/false",
    )
    result = _launch(spec)
    assert result.returncode == LAUNCH_FAILED
    assert b"slirp4netns did not set up the sandbox's network" in result.stderr
    # Once no process of the sandbox is left (its command line names tmp_path), none can run
    # the command any more.
    eventually_sync(
        lambda: not any(str(tmp_path) in cmdline(pid) for pid in all_pids()),
        "no process of the sandbox left",
        wait_seconds=TIMEOUT_SECONDS,
    )
    assert not marker.exists()


def test_the_launcher_and_its_sandbox_die_with_their_parent(tmp_path: Path) -> None:
    spec = _spec(tmp_path, command=["sleep", "3600"], uid=NOBODY, gid=NOBODY, network=True)
    # A parent that starts the launcher, says its PID, and waits.
    parent_code = (
        "import subprocess, sys; "
        f"p = subprocess.Popen({list(launcher_argv(spec))!r}); "
        "print(p.pid, flush=True); p.wait()"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", parent_code], stdout=subprocess.PIPE, start_new_session=True
    )
    try:
        assert parent.stdout is not None
        launcher = int(parent.stdout.readline())

        # Once the command runs, the sandbox is set up: bwrap, slirp4netns, the sandbox's first
        # process and the command.
        def running() -> list[int] | None:
            found = descendants(launcher)
            return found if any(cmdline(p).split() == ["sleep", "3600"] for p in found) else None

        sandboxed = eventually_sync(
            running, "the sandbox's command running", wait_seconds=TIMEOUT_SECONDS
        )
        assert len(sandboxed) >= 4, [cmdline(p) for p in sandboxed]
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=TIMEOUT_SECONDS)
        eventually_sync(
            lambda: not any(alive(p) for p in [launcher, *sandboxed]),
            "the launcher and its sandbox gone",
            wait_seconds=TIMEOUT_SECONDS,
            context=lambda: f"still running: {[p for p in [launcher, *sandboxed] if alive(p)]}",
        )
    finally:
        if parent.returncode is None:
            os.killpg(parent.pid, signal.SIGKILL)
            parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


# -- a node that is not root ---------------------------------------------------------------------


@pytest.fixture
def unprivileged() -> Iterator[Path]:
    """A directory `nobody` owns and can reach (pytest's are private to root), holding a copy
    of the launcher (the test's own checkout may be out of its reach too); Debian's
    /usr/bin/python3 runs it, as the launcher needs only the standard library."""
    base = Path(tempfile.mkdtemp(prefix="corral-unprivileged-", dir="/var/tmp"))
    base.chmod(0o755)
    shutil.copy(LAUNCHER, base / "launcher.py")
    (base / "launcher.py").chmod(0o644)
    for name in ("repo", "home", "tmp"):
        (base / "ws" / name).mkdir(parents=True)
    for path in (base / "ws", *(base / "ws").iterdir()):
        os.chown(path, NOBODY, NOBODY)
    try:
        yield base
    finally:
        shutil.rmtree(base)


def test_as_a_normal_user_the_sandbox_confines_without_root(
    unprivileged: Path,
) -> None:
    server = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import socket,time; s=socket.create_server(('127.0.0.1',0)); "
            "print(s.getsockname()[1], flush=True); time.sleep(120)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert server.stdout is not None
        port = int(server.stdout.readline())
        ws = unprivileged / "ws"
        script = (
            "id -u; (echo 1 > /proc/sys/kernel/hostname) 2>/dev/null || echo refused; "
            "unshare -U true 2>/dev/null || echo refused; "
            f"(exec 3<>/dev/tcp/127.0.0.1/{port}) 2>/dev/null || echo refused; "
            "ip -4 -o addr show tap0 | grep -c 10.0.2.100; ls -A /root /home | wc -l"
        )
        spec = SandboxSpec(
            command=["bash", "-c", script],
            cwd=str(ws / "repo"),
            tmp=str(ws / "tmp"),
            writable=[str(ws / "repo"), str(ws / "home")],
            system=list(DEFAULT_SYSTEM_PATHS),
            network=True,
        )
        result = subprocess.run(
            [
                "setpriv",
                f"--reuid={NOBODY}",
                f"--regid={NOBODY}",
                "--clear-groups",
                "/usr/bin/python3",
                "-I",
                "-S",
                str(unprivileged / "launcher.py"),
                spec.to_json(),
            ],
            capture_output=True,
            timeout=TIMEOUT_SECONDS,
            check=False,
        )
    finally:
        server.kill()
        server.wait()
        if server.stdout is not None:
            server.stdout.close()
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().split() == [
        str(NOBODY),
        "refused",
        "refused",
        "refused",
        "1",
        "0",
    ]
