"""Time to a ready workspace, and what idle workspaces and terminals cost a node.

    .venv/bin/python -m bench.workspace [--runs N] [--idle N] [--terminals N]

Runs `corral up` (SQLite, its local node) with both runtimes, against a private dockerd
(tests/support/docker.py) and the tests' Debian image, and a repository of 50 MB with a
Dockerfile-based devcontainer.json. On that warm node (the agent tools installed, the image
built once), it times `POST /workspaces` to `running` as a user sees it, for each runtime, and
in the same run the floor: `git clone --local` of the same repository, then `docker run -d` of
the same image. Then the node daemon's RSS, idle and with terminals open, and N idle
devcontainer workspaces on the node: the machine's memory they take.

Targets (issue 13): host ≤ 0.5 s p50; devcontainer ≤ 2 s p50 and ≤ 1.5 x the floor; node
daemon ≤ 60 MiB idle and ≤ 1 MiB more per open terminal; 20 idle devcontainer workspaces.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tests.support.docker import DockerEngine
from tests.support.images import base_image
from tests.support.nodes import Api, exchange
from tests.support.processes import corral_env, corral_server
from tests.unit.node.runtimes.support import git

CACHE = Path(os.environ.get("CORRAL_TEST_CACHE", Path.home() / ".cache" / "corral-tests"))
REPO_BYTES = 50 * 1024 * 1024
FILES = 500
POLL_SECONDS = 0.01
WAIT_SECONDS = 180.0


def make_repo(path: Path, image: str) -> Path:
    """50 MB in 500 files of random bytes (no packing helps), and a devcontainer.json that
    builds a Dockerfile on `image`."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    for index in range(FILES):
        folder = path / f"src{index % 20}"
        folder.mkdir(exist_ok=True)
        (folder / f"file{index}.bin").write_bytes(os.urandom(REPO_BYTES // FILES))
    (path / ".devcontainer").mkdir()
    (path / ".devcontainer" / "Dockerfile").write_text(
        f"FROM {image}\nRUN useradd -m -s /bin/bash dev\n"
    )
    (path / ".devcontainer" / "devcontainer.json").write_text(
        json.dumps({"build": {"dockerfile": "Dockerfile"}, "remoteUser": "dev"})
    )
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", "fifty megabytes")
    return path


def timed(action: Callable[[], Any]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def until_running(api: Api, workspace_id: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        workspace = api.get(f"/workspaces/{workspace_id}")
        if workspace["state"] == "running":
            return
        if workspace["state"] == "error":
            raise SystemExit(f"workspace {workspace_id} failed: {workspace['state_reason']}")
        time.sleep(POLL_SECONDS)
    raise SystemExit(
        f"workspace {workspace_id} was not running within {WAIT_SECONDS:g} s: "
        f"{workspace['state']} ({workspace['state_reason']})"
    )


def create(api: Api, runtime: str, made: list[str]) -> float:
    def make() -> None:
        workspace = api.post("/workspaces", {"project": "bench", "runtime": runtime})
        made.append(workspace["id"])
        until_running(api, workspace["id"])

    return timed(make)


def floor(engine: DockerEngine, repo: Path, image: str, scratch: Path) -> tuple[float, float]:
    """(clone, clone + docker run) for one sample: what any tool must do at the least."""
    target = scratch / f"clone-{time.monotonic_ns()}"
    clone = timed(
        lambda: subprocess.run(
            ["git", "clone", "-q", "--local", str(repo), str(target)], check=True, timeout=120
        )
    )
    run = timed(
        lambda: engine.docker(
            "run", "-d", "--rm", "-v", f"{target}:/workspaces/x", image, "sleep", "3600"
        )
    )
    return clone, clone + run


def pss_mib(pid: int) -> float:
    """Proportional set size: a process's own pages, and its share of pages it shares (the
    shims are one binary, whose code every one of them maps)."""
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    return 0.0


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def idle_memory_mib(engine: DockerEngine, workspace_ids: list[str]) -> tuple[float, float]:
    """What idle workspaces cost the machine: their containers' memory (their cgroups' usage,
    page cache included) and the RSS of Docker's shim process each container has."""
    ids = engine.docker(
        "inspect", "--format", "{{.Id}}", *[f"corral-{w}" for w in workspace_ids]
    ).stdout.split()
    containers = 0.0
    for container in ids:
        usage = Path(f"/sys/fs/cgroup/memory/docker/{container}/memory.usage_in_bytes")
        if usage.exists():
            containers += int(usage.read_text()) / 2**20
    shims = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if b"containerd-shim" in argv and any(c.encode() in argv for c in ids):
            shims += pss_mib(int(entry.name))
    return containers, shims


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def node_pids(data_dir: Path) -> tuple[int, int | None]:
    """The node daemon's PID (from its lock file) and its PTY host's, if running."""
    daemon = int((data_dir / "agent.lock").read_text().split()[0])
    pty = None
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if b"pty-host" in argv and os.fsencode(data_dir) in argv:
                pty = int(entry.name)
    return daemon, pty


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=7, help="timed creates per runtime")
    parser.add_argument("--idle", type=int, default=20, help="idle devcontainer workspaces")
    parser.add_argument("--terminals", type=int, default=10, help="terminals to open")
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="corral-bench-") as scratch_dir,
        DockerEngine() as engine,
    ):
        scratch = Path(scratch_dir)
        image = base_image(engine, progress=lambda line: print(line, file=sys.stderr))
        repo = make_repo(scratch / "origin", image)
        runtime_settings = {
            "host": {"sandbox": "auto"},
            "devcontainer": {
                "docker_host": engine.docker_host,
                "docker_netns": engine.netns,
                "default_image": image,
                "tools_dir": str(CACHE / "tools"),
                # Limits are what placement counts: small ones, so that all the workspaces of
                # the run fit one node of a few CPUs.
                "memory_bytes": 256 * 1024 * 1024,
                "cpus": 0.05,
            },
        }
        env = corral_env(
            scratch / "home",
            CORRAL_NODE_RUNTIME_SETTINGS=json.dumps(runtime_settings),
            CORRAL_NODE_AGENTS_DIR=str(CACHE / "agents"),
        )
        data = scratch / "data"
        with corral_server(data, env, command="up", extra_args=["--no-browser"]) as server:
            assert server.link is not None
            api = Api(server.url, exchange(server.url, server.link))
            api.post("/projects", {"name": "bench", "repo": str(repo)})
            made: list[str] = []
            print("warming up: one workspace of each runtime", file=sys.stderr)
            for runtime in ("host", "devcontainer"):
                create(api, runtime, made)
            host = [create(api, "host", made) for _ in range(args.runs)]
            devcontainer = [create(api, "devcontainer", made) for _ in range(args.runs)]
            floors = [floor(engine, repo, image, scratch) for _ in range(args.runs)]
            clone_floor = p50([f[0] for f in floors])
            full_floor = p50([f[1] for f in floors])
            for workspace_id in made:
                api.call("DELETE", f"/workspaces/{workspace_id}", expect=204)
            print(f"repository: {REPO_BYTES // 2**20} MB in {FILES} files; {args.runs} runs each")
            print(
                f"host runtime:         p50 {p50(host):.3f} s  (target ≤ 0.5 s; "
                f"floor git clone --local {clone_floor:.3f} s, ratio {p50(host) / clone_floor:.2f})"
            )
            print(
                f"devcontainer runtime: p50 {p50(devcontainer):.3f} s  (target ≤ 2 s and ≤ 1.5 x "
                f"floor; floor clone + docker run {full_floor:.3f} s, ratio "
                f"{p50(devcontainer) / full_floor:.2f})"
            )
            idle: list[str] = []
            for _ in range(args.idle):
                create(api, "devcontainer", idle)
            time.sleep(5)
            running = sum(api.get(f"/workspaces/{w}")["state"] == "running" for w in idle)
            containers, shims = idle_memory_mib(engine, idle)
            print(
                f"{running} of {args.idle} idle devcontainer workspaces running on one node: "
                f"{containers:.1f} MiB in their containers and {shims:.1f} MiB in Docker's shims, "
                f"{(containers + shims) / max(args.idle, 1):.1f} MiB each"
            )
            # One terminal first: the PTY host starts with the node's first terminal.
            api.post(f"/workspaces/{idle[0]}/terminals", {})
            time.sleep(1)
            daemon, pty_before = node_pids(data / "node")
            idle_rss = rss_mib(daemon)
            pty_idle = rss_mib(pty_before) if pty_before else 0.0
            terminals = [
                api.post(f"/workspaces/{idle[i % len(idle)]}/terminals", {})
                for i in range(args.terminals)
            ]
            time.sleep(2)
            _, pty = node_pids(data / "node")
            with_terminals = rss_mib(daemon)
            pty_busy = rss_mib(pty) if pty else 0.0
            per_terminal = (with_terminals - idle_rss) / max(len(terminals), 1)
            pty_per_terminal = (pty_busy - pty_idle) / max(len(terminals), 1)
            print(
                f"node daemon RSS: {idle_rss:.1f} MiB idle (target ≤ 60), "
                f"{with_terminals:.1f} MiB with {len(terminals)} terminals open: "
                f"{per_terminal:.2f} MiB each (target ≤ 1); its PTY host {pty_idle:.1f} MiB with "
                f"one terminal, then {pty_busy:.1f} MiB: {pty_per_terminal:.2f} MiB each"
            )
            for workspace_id in idle:
                api.call("DELETE", f"/workspaces/{workspace_id}", expect=204)
            api.close()


if __name__ == "__main__":
    main()
