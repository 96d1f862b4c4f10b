"""What the workspace sandbox costs, against the bubblewrap sandbox it replaced, in one run.

    .venv/bin/python -m bench.sandbox [--starts N] [--reads N] [--round-trips N]

Run as root (as CI does): the network figures need a network namespace standing in for the
internet (tests/support/netns.py). Prints:

- process start to exit (`true`), p50 and p99: unconfined; the old sandbox (bwrap over the whole
  root, no user or network namespace: the baseline); the new one without and with its own
  network (launcher, bwrap, setpriv, slirp4netns). Every terminal, agent and agent command
  pays this once.
- an agent's file read through the node (`fs/read_text_file`): plain `open` by path (the old,
  racy way: the baseline) against `openat2` beneath the workspace.
- a request's round trip from inside a sandbox to a server on the "internet": through the host's
  network (the old sandbox: the baseline) and through slirp4netns.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from tests.support.netns import outside_host

from corral.node.sandbox import DEFAULT_HIDDEN_PATHS, DEFAULT_SYSTEM_PATHS, launcher_argv
from corral.node.sandbox.launcher import SandboxSpec
from corral.node.workspacefiles import WorkspaceFiles

WORKSPACE_UID = 1_800_000_000
ROUND_TRIP_SCRIPT = """
import socket, sys, time
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
samples = []
for _ in range(count):
    started = time.perf_counter()
    with socket.create_connection((host, port)) as connection:
        connection.sendall(b"x" * 1024)
        received = 0
        while received < 1024:
            received += len(connection.recv(65536))
    samples.append((time.perf_counter() - started) * 1000)
print(" ".join(f"{s:.4f}" for s in samples))
"""


def percentile(samples: list[float], q: int) -> float:
    return statistics.quantiles(samples, n=100)[q - 1]


def report(title: str, results: dict[str, list[float]], *, unit: str, scale: float = 1.0) -> None:
    """One table: p50 and p99 of each row (samples in ms, shown times `scale` in `unit`) and
    its p50's ratio to the first row's, the baseline."""
    base = percentile(next(iter(results.values())), 50)
    print(f"\n{title}")
    print(f"{'':<28}{'p50 ' + unit:>10}{'p99 ' + unit:>10}{'p50 ratio':>12}")
    for name, samples in results.items():
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        print(f"{name:<28}{p50 * scale:>10.3f}{p99 * scale:>10.3f}{p50 / base:>12.2f}")


def timed(run: Callable[[], object], count: int) -> list[float]:
    run()  # warm-up
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        run()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def old_bwrap(argv: list[str], workspace: Path) -> list[str]:
    """The sandbox as it was before: the whole root read-only, the host's network and uid."""
    return [
        "bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc",
        "--bind", str(workspace / "tmp"), "/tmp", "--bind", str(workspace / "repo"),
        str(workspace / "repo"), "--chdir", str(workspace / "repo"), "--unshare-pid",
        "--unshare-ipc", "--die-with-parent", "--cap-drop", "ALL", "--", *argv,
    ]  # fmt: skip


def new_sandbox(argv: list[str], workspace: Path, *, network: bool) -> list[str]:
    spec = SandboxSpec(
        command=argv,
        cwd=str(workspace / "repo"),
        tmp=str(workspace / "tmp"),
        writable=[str(workspace / "repo"), str(workspace / "home")],
        system=list(DEFAULT_SYSTEM_PATHS),
        hidden=list(DEFAULT_HIDDEN_PATHS),
        files={"/etc/hostname": "bench\n"},
        uid=WORKSPACE_UID,
        gid=WORKSPACE_UID,
        network=network,
        bwrap=shutil.which("bwrap") or "bwrap",
        slirp4netns=shutil.which("slirp4netns") or "slirp4netns",
    )
    return list(launcher_argv(spec))


def run(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=60).stdout


def starts(workspace: Path, count: int) -> None:
    cases = {
        "old bwrap (baseline)": old_bwrap(["true"], workspace),
        "unconfined": ["true"],
        "sandbox, host network": new_sandbox(["true"], workspace, network=False),
        "sandbox, own network": new_sandbox(["true"], workspace, network=True),
    }
    results = {name: timed(lambda argv=argv: run(argv), count) for name, argv in cases.items()}  # type: ignore[misc]
    report(f"process start to exit, {count} runs each", results, unit="ms")


def reads(workspace: Path, count: int) -> None:
    path = workspace / "repo" / "src" / "module.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x = 1\n" * 2000)
    files = WorkspaceFiles([workspace / "repo", workspace / "home"])
    results = {
        "open by path (baseline)": timed(path.read_text, count),
        "openat2 beneath": timed(lambda: files.read_text(str(path)), count),
    }
    report(f"an agent's file read (12 KB), {count} reads each", results, unit="us", scale=1000)


def round_trips(workspace: Path, count: int) -> None:
    script = workspace / "repo" / "round_trip.py"
    script.write_text(ROUND_TRIP_SCRIPT)
    with outside_host() as host:
        server = host.listen()
        stop = threading.Event()

        def echo() -> None:
            server.settimeout(0.2)
            while not stop.is_set():
                try:
                    connection, _ = server.accept()
                except TimeoutError:
                    continue
                with connection:
                    received = 0
                    while received < 1024:
                        received += len(connection.recv(65536))
                    connection.sendall(b"y" * 1024)

        thread = threading.Thread(target=echo, daemon=True)
        thread.start()
        port = str(server.getsockname()[1])
        argv = ["/usr/bin/python3", str(script), host.address, port, str(count)]
        try:
            old = [float(s) for s in run(old_bwrap(argv, workspace)).split()]
            new = [float(s) for s in run(new_sandbox(argv, workspace, network=True)).split()]
        finally:
            stop.set()
            thread.join(timeout=5)
            server.close()
    results = {"host network (baseline)": old, "own network (slirp4netns)": new}
    report(
        f"a 1 KB request and answer to a host outside, {count} round trips each", results, unit="ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--starts", type=int, default=100)
    parser.add_argument("--reads", type=int, default=5000)
    parser.add_argument("--round-trips", type=int, default=500)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="corral-bench-", dir="/var/tmp") as directory:
        workspace = Path(directory)
        for name in ("repo", "home", "tmp"):
            (workspace / name).mkdir()
            shutil.chown(workspace / name, WORKSPACE_UID, WORKSPACE_UID)
        workspace.chmod(0o755)
        print(f"python {sys.version.split()[0]}, sandboxed processes run as uid {WORKSPACE_UID}")
        starts(workspace, args.starts)
        reads(workspace, args.reads)
        round_trips(workspace, args.round_trips)


if __name__ == "__main__":
    main()
