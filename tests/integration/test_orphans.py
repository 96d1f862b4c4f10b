"""Nothing of `corral up` outlives it: kill -9 of `corral up` (and of its node daemon), a restart,
and a stop leave no process of either run behind, with real processes and a real terminal."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.support.nodes import Api, exchange
from tests.support.processes import (
    alive,
    cmdline,
    corral_env,
    corral_server,
    descendants,
    pty_hosts,
)
from tests.support.sessions import make_repo
from tests.support.waits import eventually_sync

WAIT_SECONDS = 60.0


def _identity(pid: int) -> tuple[int, int] | None:
    """(pid, start time): a PID alone may be reused by the time we look again."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            stat = file.read()
    except OSError:
        return None
    return pid, int(stat[stat.rindex(")") + 2 :].split()[19])


def _still_running(processes: set[tuple[int, int]]) -> set[tuple[int, int]]:
    return {p for p in processes if alive(p[0]) and _identity(p[0]) == p}


def _local_node_linked(api: Api) -> dict[str, object] | None:
    for node in api.get("/nodes")["items"]:
        if node["name"] == "local" and node["connected"]:
            return dict(node)
    return None


def test_nothing_of_a_killed_corral_up_keeps_running(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", {"README.md": "orphans\n"})
    env = corral_env(tmp_path / "home", None, CORRAL_NODES__HEARTBEAT_INTERVAL_SECONDS="1")
    data = tmp_path / "data"
    first_run: set[tuple[int, int]] = set()
    with corral_server(data, env, command="up", extra_args=["--no-browser"]) as first:
        assert first.link is not None
        api = Api(first.url, exchange(first.url, first.link))
        try:
            eventually_sync(
                lambda: _local_node_linked(api),
                "the local node",
                wait_seconds=WAIT_SECONDS,
                context=first.stderr,
            )
            api.post("/projects", {"name": "demo", "repo": str(repo)})
            workspace = api.post("/workspaces", {"project": "demo", "name": "w", "node": "local"})
            api.workspace_running(workspace["id"])
            api.post(f"/workspaces/{workspace['id']}/terminals", {})
            # The node daemon killed as the OOM killer would: its terminals live on in the PTY
            # host, and the agent `corral up` starts again adopts them.
            agent = next(p for p in descendants(first.pid) if "corral.node run " in cmdline(p))
            os.kill(agent, signal.SIGKILL)
            eventually_sync(
                lambda: next(
                    (
                        p
                        for p in descendants(first.pid)
                        if p != agent and "corral.node run " in cmdline(p)
                    ),
                    None,
                ),
                "a new node daemon",
                wait_seconds=WAIT_SECONDS,
                context=first.stderr,
            )
            eventually_sync(
                lambda: _local_node_linked(api),
                "the relink",
                wait_seconds=WAIT_SECONDS,
                context=first.stderr,
            )
            terminals = api.get(f"/workspaces/{workspace['id']}/terminals")
            assert len(terminals) == 1, "the terminal survived its agent"
            hosts = pty_hosts(data)
            assert len(hosts) == 1, hosts
            everything = {agent, *descendants(first.pid), *hosts, *descendants(hosts[0])}
            first_run = {i for i in map(_identity, everything) if i is not None}
            assert len(first_run) >= 6, "corral up's node, the PTY host and a sandboxed shell"
        finally:
            api.close()
        os.kill(first.pid, signal.SIGKILL)
        first.process.wait(timeout=WAIT_SECONDS)

    with corral_server(
        data, env, command="up", port=first.port, extra_args=["--no-browser"]
    ) as second:
        assert second.link is not None
        api = Api(second.url, exchange(second.url, second.link))
        try:
            eventually_sync(
                lambda: _local_node_linked(api),
                "the local node",
                wait_seconds=WAIT_SECONDS,
                context=second.stderr,
            )
            second_run = {i for i in map(_identity, descendants(second.pid)) if i is not None}
        finally:
            api.close()
    # `corral up` stopped cleanly (the context manager sends SIGTERM).
    for run, name in ((first_run, "first"), (second_run, "second")):
        eventually_sync(
            lambda run=run: not _still_running(run),  # type: ignore[misc]
            f"no process of the {name} run",
            wait_seconds=WAIT_SECONDS,
            context=lambda run=run: "\n".join(cmdline(p) for p, _ in _still_running(run)),  # type: ignore[misc]
        )
