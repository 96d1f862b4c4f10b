"""Nodes and terminals as a user runs them: `corral up` with its local node daemon, `corral serve`
with `corral node run` agents, and terminal WebSockets relayed to the node, all real processes
on 127.0.0.1.

One `corral up` is shared by the tests that only add terminals, workspaces or nodes of their own;
the tests that kill, pause or restart a process get a `corral serve` and a node daemon of their
own. Every terminal is created wide, so the shell never wraps an echoed command line.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.asyncio.client import ClientConnection, connect

from corral.control.api.closecodes import FINAL_CLOSE_CODES
from tests.support.nodes import (
    WAIT_SECONDS,
    Api,
    NodeProcess,
    close_of,
    exchange,
    node_agent,
    open_viewer,
    tail,
    terminal_url,
)
from tests.support.processes import (
    CorralServer,
    cmdline,
    corral_env,
    corral_server,
    descendants,
    pty_hosts,
    run_cli,
)
from tests.support.sessions import make_repo
from tests.support.waits import eventually, eventually_sync

RELINK_SECONDS = 5.0
"""The issue's bound: after a control plane restart, a node relinks within 5 s."""
README = "corral integration readme\n"
PROJECT_VALUE = "project-value-4711"
COLS, ROWS = 400, 40
MAX_VIEWER_FRAME_BYTES = 64 * 1024
RING_BUFFER_BYTES = 256 * 1024
FLOOD_BYTES = 20_000_000
FLOOD_RSS_GROWTH_BYTES = 50 * 2**20
"""The issue's bound on control-plane + node RSS growth under a `yes` flood."""


def agent_env(home: Path, **extra: str) -> dict[str, str]:
    return corral_env(
        home,
        None,
        CORRAL_NODE_RECONNECT_MIN_SECONDS="0.1",
        CORRAL_NODE_RECONNECT_MAX_SECONDS="0.5",
        **extra,
    )


def server_env(home: Path, *, missed_beats: int) -> dict[str, str]:
    """A control plane that asks for a heartbeat every 0.3 s; also its local agent's env."""
    return agent_env(
        home,
        CORRAL_NODES__HEARTBEAT_INTERVAL_SECONDS="0.3",
        CORRAL_NODES__MISSED_HEARTBEATS_BEFORE_STALE=str(missed_beats),
        CORRAL_NODES__RELINK_GRACE_SECONDS="15",
    )


def link_token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["token"][0]


def log_records(text: str) -> list[dict[str, Any]]:
    """The JSON log lines of a server's stderr (its local agent writes there too)."""
    records = []
    for line in text.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict):
            records.append(record)
    return records


def on_host(path: Path) -> bool:
    return path.exists()


def asleep_writing(node_dir: Path, argv: list[str]) -> bool:
    """Whether a process running `argv` in a terminal of this node sleeps in a syscall on its
    stdout (the terminal): in a write, as `head` in a pipeline only reads its stdin."""
    for pid in (p for host in pty_hosts(node_dir) for p in descendants(host)):
        if cmdline(pid).split() != argv:
            continue
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            # "NR ARG1 ..." while in a syscall, "running" out of one.
            syscall = Path(f"/proc/{pid}/syscall").read_text().split()
        except OSError:  # it has just exited
            continue
        if state == "S" and syscall[1:2] == ["0x1"]:
            return True
    return False


def vm_rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


@dataclass
class Site:
    """A control plane, the owner's API, and the node daemons the test knows of."""

    server: CorralServer
    api: Api
    node_dir: Path
    agents: list[NodeProcess] = field(default_factory=list)

    def context(self) -> str:
        parts = [
            f"--- control plane {self.server.pid} (exit code {self.server.process.poll()}) "
            f"stderr:\n{tail(self.server.stderr())}"
        ]
        parts += [agent.describe() for agent in self.agents]
        return "\n".join(parts)

    def node(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api.get(f"/nodes/{name}")
        return found

    def workspace(self, workspace_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.api.get(f"/workspaces/{workspace_id}")
        return found

    def wait_node(
        self, name: str, state: str = "ready", *, connected: bool = True
    ) -> dict[str, Any]:
        last: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            last.update(self.node(name))
            ok = last["state"] == state and last["connected"] is connected
            return last if ok else None

        what = f"node {name} {state}, {'linked' if connected else 'unlinked'}"
        return eventually_sync(
            check,
            what,
            wait_seconds=WAIT_SECONDS,
            context=lambda: f"last seen: {last}\n{self.context()}",
        )

    def wait_workspace(self, workspace_id: str, state: str) -> dict[str, Any]:
        last: dict[str, Any] = {}

        def check() -> dict[str, Any] | None:
            last.update(self.workspace(workspace_id))
            return last if last["state"] == state else None

        what = f"workspace {workspace_id} {state}"
        return eventually_sync(
            check,
            what,
            wait_seconds=WAIT_SECONDS,
            context=lambda: f"last seen: {last}\n{self.context()}",
        )

    def create_workspace(self, project: str, name: str, node: str) -> dict[str, Any]:
        created = self.api.post("/workspaces", {"project": project, "name": name, "node": node})
        assert created["state"] == "pending", created  # until placement puts it on the node
        return self.wait_workspace(created["id"], "running")

    def new_terminal(self, workspace_id: str) -> str:
        body = {"cols": COLS, "rows": ROWS}
        created = self.api.post(f"/workspaces/{workspace_id}/terminals", body)
        terminal_id: str = created["id"]
        return terminal_id

    def url(self, workspace_id: str, terminal_id: str, **query: Any) -> str:
        return terminal_url(self.server.url, workspace_id, terminal_id, **query)

    def wait_for_log(self, **fields: object) -> dict[str, Any]:
        def check() -> dict[str, Any] | None:
            for record in log_records(self.server.stderr()):
                if all(record.get(key) == value for key, value in fields.items()):
                    return record
            return None

        return eventually_sync(
            check, f"a log record {fields}", wait_seconds=15.0, context=self.context
        )


@dataclass(frozen=True)
class Shared:
    site: Site
    cli_env: dict[str, str]
    workspace_id: str
    base: Path


# --- One `corral up` shared by the tests that do not disturb its processes --------------------


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shared]:
    base = tmp_path_factory.mktemp("up")
    repo = make_repo(base / "repo", {"README.md": README})
    # Staleness is not under test here; a busy machine must not make the local node stale.
    env = server_env(base / "server-home", missed_beats=50)
    with corral_server(base / "data", env, command="up", extra_args=["--no-browser"]) as server:
        assert server.link is not None
        cli_home = base / "cli-home"
        cli_env = corral_env(cli_home, cli_home / "config")
        login = run_cli("login", server.link, env=cli_env)
        assert login.returncode == 0, login.stderr
        token = json.loads((cli_home / "config" / "login.json").read_text())["token"]
        site = Site(server, Api(server.url, token), base / "data" / "node")
        site.api.context = site.context
        try:
            site.wait_node("local")
            site.api.post(
                "/projects", {"name": "demo", "repo": str(repo), "env": {"DEMO_VAR": PROJECT_VALUE}}
            )
            workspace = site.create_workspace("demo", "main", "local")
            yield Shared(site, cli_env, workspace["id"], base)
        finally:
            site.api.close()


async def test_up_runs_a_local_node_with_a_workspace_and_a_terminal(shared: Shared) -> None:
    site, workspace_id = shared.site, shared.workspace_id
    nodes = site.api.get("/nodes")["items"]
    local = next(n for n in nodes if n["name"] == "local")
    assert (local["state"], local["connected"], local["provider"]) == ("ready", True, "local")

    checkout = site.node_dir / "workspaces" / workspace_id / "repo"
    assert (checkout / "README.md").read_text() == README
    assert site.workspace(workspace_id)["branch"] == "main"

    terminal_id = site.new_terminal(workspace_id)
    url = site.url(workspace_id, terminal_id)
    async with open_viewer(url, headers=site.api.headers, context=site.context) as viewer:
        assert viewer.attached["terminal"]["id"] == terminal_id
        await viewer.type("cat README.md; echo branch=$(git branch --show-current) dir=$PWD\n")
        await viewer.type("echo nice=$(nice) var=$DEMO_VAR hi-$((6*7))\n")
        await viewer.read_until(b"hi-42")
    output = bytes(viewer.output)
    # Below the node's own processes (the host runtime's `nice`), which keep theirs.
    assert b"nice=10" in output
    assert os.getpriority(os.PRIO_PROCESS, shared.site.server.pid) == 0
    assert README.strip().encode() in output
    assert f"branch=main dir={checkout}".encode() in output
    assert f"var={PROJECT_VALUE}".encode() in output
    # The project's variables travel with each request; the node keeps none of them.
    for path in site.node_dir.rglob("*"):
        if path.is_file() and "workspaces" not in path.parts:
            assert PROJECT_VALUE.encode() not in path.read_bytes(), path


async def test_stop_ends_terminals_start_resumes_delete_frees_the_name(shared: Shared) -> None:
    site = shared.site
    workspace = site.create_workspace("demo", "lifecycle", "local")
    workspace_id = workspace["id"]
    terminal_id = site.new_terminal(workspace_id)
    url = site.url(workspace_id, terminal_id)
    async with open_viewer(url, headers=site.api.headers, context=site.context) as viewer:
        await viewer.type("echo ok-$((3*3)) > made-here.txt; cat made-here.txt\n")
        await viewer.read_until(b"ok-9")
        stopped = site.api.post(f"/workspaces/{workspace_id}/stop", expect=200)
        assert stopped["state"] == "stopped", stopped
        closed = await viewer.wait_closed()
        assert closed.code == 1000, closed  # the terminal ended with the workspace
    refused = site.api.request("POST", f"/workspaces/{workspace_id}/terminals", json={})
    assert refused.status_code == 409, refused.text

    started = site.api.post(f"/workspaces/{workspace_id}/start", expect=200)
    assert started["state"] == "running", started
    assert site.api.get(f"/workspaces/{workspace_id}/terminals") == []
    checkout = site.node_dir / "workspaces" / workspace_id / "repo"
    assert (checkout / "made-here.txt").read_text() == "ok-9\n"  # files outlive a stop

    assert site.api.request("DELETE", f"/workspaces/{workspace_id}").status_code == 204
    assert site.api.request("GET", f"/workspaces/{workspace_id}").status_code == 404
    assert not checkout.exists()
    again = site.create_workspace("demo", "lifecycle", "local")  # the name is free again
    assert again["id"] != workspace_id
    site.api.request("DELETE", f"/workspaces/{again['id']}")
    actions = [e["action"] for e in site.api.get(f"/activity?object_id={workspace_id}")["items"]]
    for action in (
        "workspace.created",
        "workspace.creating",
        "workspace.running",
        "workspace.stopping",
        "workspace.stopped",
        "workspace.starting",
        "workspace.deleting",
        "workspace.deleted",
    ):
        assert action in actions, actions


def test_a_second_node_joins_and_is_removed(shared: Shared) -> None:
    site, cli_env = shared.site, shared.cli_env

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return run_cli(*args, env=cli_env)

    added = cli("node", "add", "second", "--json")
    assert added.returncode == 0, added.stderr
    created = json.loads(added.stdout)
    token = created["join_token"]
    assert created["join_command"].startswith(f"CORRAL_NODE_JOIN_TOKEN={token} corral node run")
    assert f"--control-url {site.server.url}" in created["join_command"]

    node_dir = shared.base / "second-node"
    env = agent_env(shared.base / "second-home")
    with node_agent(node_dir, env, control_url=site.server.url, join_token=token) as agent:
        site.agents.append(agent)

        def beating() -> dict[str, Any] | None:
            node = site.node("second")
            ready = node["state"] == "ready" and node["connected"]
            return node if ready and node["capacity"].get("cpus") else None

        eventually_sync(
            beating,
            "node second ready with capacity",
            wait_seconds=WAIT_SECONDS,
            context=site.context,
        )
        listed = cli("node", "list", "--json")
        assert listed.returncode == 0, listed.stderr
        second = next(n for n in json.loads(listed.stdout) if n["name"] == "second")
        assert second["state"] == "ready" and second["connected"] is True
        assert second["capacity"]["cpus"] > 0
        assert second["capacity"]["memory_bytes"] > 0
        assert second["version"]
        assert (node_dir / "node.json").stat().st_mode & 0o777 == 0o600

        again = run_cli(
            "node",
            "run",
            "--control-url",
            site.server.url,
            "--join-token",
            token,
            "--data-dir",
            str(shared.base / "second-node-again"),
            env=env,
        )
        assert again.returncode != 0
        lines = again.stderr.strip().splitlines()
        assert lines and lines[-1].startswith("error: "), again.stderr
        assert "join token has already been used" in lines[-1], lines[-1]
        assert [line for line in lines if not line.startswith("{")] == lines[-1:], again.stderr
        assert "Traceback" not in again.stderr

        removed = cli("node", "rm", "second")
        assert removed.returncode == 0, removed.stderr
        code = agent.wait_exit(WAIT_SECONDS)
        last = agent.stderr().strip().splitlines()[-1]
        assert code != 0, agent.describe()
        assert last.startswith("error: the control plane refused this node"), agent.describe()
        assert "Traceback" not in agent.stderr()
    names = [n["name"] for n in site.api.get("/nodes")["items"]]
    assert "second" not in names


async def test_replay_after_reconnect_is_exactly_what_was_printed(shared: Shared) -> None:
    site, workspace_id = shared.site, shared.workspace_id
    terminal_id = site.new_terminal(workspace_id)
    url = site.url(workspace_id, terminal_id)
    headers, context = site.api.headers, site.context
    numbers = "\r\n".join(str(n) for n in range(1, 501)).encode()

    async with open_viewer(url, headers=headers, context=context) as first:
        assert first.offset == 0
        await first.type("seq 1 500; echo seq-$((250*2))-end\n")
        await first.read_until(b"seq-500-end")
    printed = bytes(first.output)
    assert numbers in printed

    async with open_viewer(url, headers=headers, context=context) as second:
        assert second.offset == 0
        await second.read_at_least(len(printed))
        assert bytes(second.output[: len(printed)]) == printed
        await second.drain()
        seen = second.offset + len(second.output)

    resumed_url = site.url(workspace_id, terminal_id, offset=seen)
    async with open_viewer(resumed_url, headers=headers, context=context) as third:
        assert third.offset == seen
        await third.type("echo new-$((2*3))\n")
        await third.read_until(b"new-6")
    fresh = bytes(third.output)
    assert numbers[-20:] not in fresh and b"seq-500-end" not in fresh

    # The whole ring once more: the resumed viewer got exactly the bytes after `seen`.
    async with open_viewer(url, headers=headers, context=context) as fourth:
        await fourth.read_at_least(seen + len(fresh))
    assert bytes(fourth.output[: len(printed)]) == printed
    assert bytes(fourth.output[seen : seen + len(fresh)]) == fresh


async def test_two_viewers_see_the_same_bytes_and_both_can_type(shared: Shared) -> None:
    site, workspace_id = shared.site, shared.workspace_id
    terminal_id = site.new_terminal(workspace_id)
    url = site.url(workspace_id, terminal_id)
    headers, context = site.api.headers, site.context

    async with (
        open_viewer(url, headers=headers, context=context) as one,
        open_viewer(url, headers=headers, context=context) as two,
    ):
        await one.type("echo from-one-$((5+5))\n")
        for viewer in (one, two):
            await viewer.read_until(b"from-one-10")
        await two.type("echo from-two-$((6+6))\n")
        for viewer in (one, two):
            await viewer.read_until(b"from-two-12")
        await one.type("echo end-$((5*5))\n")
        ends = [await viewer.read_until(b"end-25") for viewer in (one, two)]
    assert one.offset == two.offset == 0
    assert bytes(one.output[: ends[0]]) == bytes(two.output[: ends[1]])
    assert one.output.index(b"from-one-10") < one.output.index(b"from-two-12")


async def test_the_sandbox_hides_the_node_and_other_workspaces(shared: Shared) -> None:
    assert shutil.which("bwrap"), "bubblewrap must be installed for this test"
    site, workspace_id = shared.site, shared.workspace_id
    other = site.create_workspace("demo", "sandbox-other", "local")
    workspaces_dir = site.node_dir / "workspaces"
    assert (site.node_dir / "node.json").is_file()
    assert (workspaces_dir / other["id"] / "repo" / "README.md").is_file()

    terminal_id = site.new_terminal(workspace_id)
    url = site.url(workspace_id, terminal_id)
    async with open_viewer(url, headers=site.api.headers, context=site.context) as viewer:
        credential, other_area, listing, system, own = await viewer.run(
            [
                f"cat {site.node_dir / 'node.json'}",
                f"ls -a {workspaces_dir / other['id']}",
                f"ls -a {workspaces_dir}",
                "touch /usr/corral-sandbox-probe",
                "touch made-in-the-sandbox",
            ]
        )
    for text, status in (credential, other_area):
        assert status != 0 and "No such file or directory" in text, text
    text, status = listing
    assert status == 0 and other["id"] not in text and workspace_id in text, text
    text, status = system
    assert status != 0 and "Read-only file system" in text, text
    assert not on_host(Path("/usr/corral-sandbox-probe"))
    assert own[1] == 0, own
    assert (workspaces_dir / workspace_id / "repo" / "made-in-the-sandbox").is_file()


# --- Bad input --------------------------------------------------------------------------------


async def test_bad_viewer_frames_close_only_that_viewer(shared: Shared) -> None:
    site, workspace_id = shared.site, shared.workspace_id
    terminal_id = site.new_terminal(workspace_id)
    tickets = f"/workspaces/{workspace_id}/terminals/{terminal_id}/tickets"
    browser = {"Origin": site.server.url}

    def ticket_url() -> str:
        return site.url(workspace_id, terminal_id, ticket=site.api.post(tickets)["ticket"])

    oversized = b"x" * (MAX_VIEWER_FRAME_BYTES + 1)
    closed, frames = await close_of(
        ticket_url(), headers=browser, send=[oversized], context=site.context
    )
    assert closed.code == 1009, (closed, frames[:1])
    assert json.loads(frames[0])["type"] == "attached"

    for text in ("{not json", '{"type": "resize", "cols": 0, "rows": 10}', '{"type": "paste"}'):
        closed, _ = await close_of(ticket_url(), headers=browser, send=[text], context=site.context)
        assert closed.code == 1007, (text, closed)

    url = site.url(workspace_id, terminal_id)
    async with open_viewer(url, headers=site.api.headers, context=site.context) as viewer:
        await viewer.resize(120, 30)
        await viewer.type("echo still-$((9*9)) $COLUMNS\n")
        await viewer.read_until(b"still-81 120")
    listed = site.api.get(f"/workspaces/{workspace_id}/terminals")
    mine = next(t for t in listed if t["id"] == terminal_id)
    assert (mine["cols"], mine["rows"], mine["exited"]) == (120, 30, False)


async def test_terminal_websockets_need_the_right_user(shared: Shared) -> None:
    site, workspace_id = shared.site, shared.workspace_id
    terminal_id = site.new_terminal(workspace_id)
    url = site.url(workspace_id, terminal_id)
    context = site.context

    closed, _ = await close_of(url, context=context)
    assert closed.code == 4401, closed
    closed, _ = await close_of(url, headers={"Authorization": "Bearer crl_wrong"}, context=context)
    assert closed.code == 4401, closed
    foreign = {**site.api.headers, "Origin": "http://attacker.invalid"}
    closed, _ = await close_of(url, headers=foreign, context=context)
    assert closed.code == 4401, closed

    ticket = site.api.post(f"/workspaces/{workspace_id}/terminals/{terminal_id}/tickets")["ticket"]
    once = site.url(workspace_id, terminal_id, ticket=ticket)
    async with open_viewer(once, context=context) as viewer:
        assert viewer.attached["terminal"]["id"] == terminal_id
    closed, _ = await close_of(once, context=context)
    assert closed.code == 4401, closed

    invite = site.api.post("/users/invites", {"name": "mallory"})
    mallory = Api(site.server.url, exchange(site.server.url, invite["invite_url"]), context)
    try:
        terminals = f"/workspaces/{workspace_id}/terminals"
        for method, path in (
            ("GET", f"/workspaces/{workspace_id}"),
            ("GET", terminals),
            ("POST", terminals),
            ("POST", f"{terminals}/{terminal_id}/tickets"),
            ("DELETE", f"{terminals}/{terminal_id}"),
        ):
            response = mallory.request(method, path, json={} if method == "POST" else None)
            assert response.status_code == 404, (method, path, response.text)
        closed, _ = await close_of(url, headers=mallory.headers, context=context)
        assert closed.code in (4404, 4401), closed
    finally:
        mallory.close()
    listed = site.api.get(f"/workspaces/{workspace_id}/terminals")
    assert terminal_id in [t["id"] for t in listed]


async def test_node_link_refuses_bad_input_and_foreign_workspaces(shared: Shared) -> None:
    site, workspace_id = shared.site, shared.workspace_id
    link = site.server.url.replace("http://", "ws://") + "/api/v1/nodes/link"
    hello = json.dumps({"type": "hello", "protocol_version": 1, "node_version": "test"})
    created = site.api.post("/nodes", {"name": "rogue"})
    rogue_id = created["node"]["id"]
    rogue_dir = shared.base / "rogue-node"
    env = agent_env(shared.base / "rogue-home")
    token = created["join_token"]
    with node_agent(rogue_dir, env, control_url=site.server.url, join_token=token) as agent:
        site.agents.append(agent)
        site.wait_node("rogue")
        headers = {"Authorization": f"Bearer {agent.credential()}"}

        future = json.dumps({"type": "hello", "protocol_version": 999, "node_version": "x"})
        closed, _ = await close_of(link, headers=headers, send=[future], context=site.context)
        assert closed.code == 4400 and "999" in closed.reason, closed
        site.wait_for_log(message="node rogue speaks protocol 999, not 1")
        closed, _ = await close_of(link, send=[hello], context=site.context)
        assert closed.code == 4401, closed
        closed, _ = await close_of(
            link, headers={"Authorization": "Bearer crlnode_wrong"}, send=[hello]
        )
        assert closed.code == 4401, closed
        # None of that disturbed the real agent's link.
        assert site.node("rogue")["connected"] is True
        assert agent.process.poll() is None
    # A raw link replaces the node's own, so the agent is gone before the next ones.
    site.wait_node("rogue", connected=False)

    async def handshake(connection: ClientConnection) -> None:
        await connection.send(hello)
        welcome = json.loads(await connection.recv())
        assert welcome["type"] == "welcome" and welcome["node_id"] == rogue_id, welcome

    for garbage in ("this is not json", '{"type": "launch"}', b"\x00"):
        closed, _ = await close_of(
            link, headers=headers, after=handshake, send=[garbage], context=site.context
        )
        assert closed.code == 4002, (garbage, closed)
    site.wait_for_log(message="node rogue broke the protocol: malformed frame (frame)")

    progress = {
        "type": "event",
        "name": "workspace.progress",
        "params": {"id": workspace_id, "line": "written by another node"},
    }
    event = {
        "type": "event",
        "name": "workspace.state",
        "params": {"id": workspace_id, "state": "error", "reason": "x"},
    }
    async with connect(link, additional_headers=headers, proxy=None) as connection:
        await handshake(connection)
        # A link's events are handled in order: once the second is logged, both were.
        await connection.send(json.dumps(progress))
        await connection.send(json.dumps(event))
        site.wait_for_log(
            message=f"node {rogue_id} reported a workspace that is not its own",
            workspace_id=workspace_id,
        )
    found = site.workspace(workspace_id)
    assert (found["state"], found["state_reason"]) == ("running", None)
    lines = site.api.get(f"/workspaces/{workspace_id}/log")["lines"]
    assert "written by another node" not in lines


async def test_an_output_flood_reaches_a_slow_viewer_whole(shared: Shared) -> None:
    site, workspace_id = shared.site, shared.workspace_id
    started = [r for r in log_records(site.server.stderr()) if "pid" in r]
    agent_pid = [r["pid"] for r in started if r["message"] == "started the local node daemon"][-1]
    pids = (site.server.pid, agent_pid)

    terminal_id = site.new_terminal(workspace_id)
    url = site.url(workspace_id, terminal_id)
    async with open_viewer(url, headers=site.api.headers, context=site.context) as viewer:
        await viewer.type("echo ready-$((3*3))\n")
        await viewer.read_until(b"ready-9")
        await viewer.drain()
        start = len(viewer.output)
        before = sum(vm_rss_bytes(pid) for pid in pids)
        peak = before
        await viewer.type(f"yes | head -c {FLOOD_BYTES}; echo flood-$((4*4))\n")
        # Read nothing until the output has backed up all the way to the PTY: `head` asleep in
        # a write to the terminal, every buffer between it and this socket full.
        await eventually(
            lambda: asleep_writing(site.node_dir, ["head", "-c", str(FLOOD_BYTES)]),
            "the flood backed up to the terminal",
            context=site.context,
        )
        next_pause = start + 2**20

        async def flood_read() -> bool:
            """One frame more, read as a slow reader reads: with a pause every MiB."""
            nonlocal next_pause, peak
            if viewer.output.find(b"flood-16", max(start, len(viewer.output) - 2**17)) >= 0:
                return True
            await viewer.receive(WAIT_SECONDS)
            if len(viewer.output) >= next_pause:
                next_pause += 2**20
                peak = max(peak, sum(vm_rss_bytes(pid) for pid in pids))
                await asyncio.sleep(0.02)  # the slow reader's pause: the point of the test
            return False

        await eventually(
            flood_read, "the whole flood", wait_seconds=120, interval=0, context=site.context
        )
    flood = bytes(viewer.output[start:])
    command_end = flood.index(b"\n") + 1  # the echoed command line holds one "y"
    assert flood[command_end:].index(b"flood-16") > FLOOD_BYTES
    assert flood[command_end : flood.index(b"flood-16")].count(b"y") == FLOOD_BYTES // 2
    growth = peak - before
    assert growth <= FLOOD_RSS_GROWTH_BYTES, f"RSS grew by {growth / 2**20:.1f} MiB"

    # A viewer that comes back gets the last 256 KiB, exactly as the first one saw them.
    seen = len(viewer.output)
    async with open_viewer(url, headers=site.api.headers, context=site.context) as replay:
        assert seen - RING_BUFFER_BYTES <= replay.offset < seen - RING_BUFFER_BYTES // 2
        await replay.read_at_least(seen - replay.offset)
    assert bytes(replay.output[: seen - replay.offset]) == bytes(viewer.output[replay.offset :])


# --- Processes that die, pause and restart: a control plane and a node of their own ---------


@dataclass
class Remote:
    site: Site
    agent: NodeProcess
    workspace_id: str
    data_dir: Path
    env: dict[str, str]
    agent_env: dict[str, str]
    stack: ExitStack

    def restart_control_plane(self) -> CorralServer:
        """SIGTERM the control plane by PID and start another on the same data dir and port."""
        old = self.site.server
        assert old.stop() == 0, self.site.context()
        new = self.stack.enter_context(
            corral_server(self.data_dir, self.env, port=old.port, expect_link=False)
        )
        self.site.server = new
        return new


@contextmanager
def remote_site(
    base: Path,
    *,
    agent_backoff: bool = False,
    missed_beats: int = 3,
    agent_settings: dict[str, str] | None = None,
) -> Iterator[Remote]:
    """`corral serve`, a `corral node run` agent joined with `corral node add`, a workspace.

    The agent redials after 0.1 to 0.5 s, or with `agent_backoff` as it does out of the box;
    `agent_settings` are more variables of its environment.
    """
    repo = make_repo(base / "repo", {"README.md": README})
    env = server_env(base / "server-home", missed_beats=missed_beats)
    with ExitStack() as stack:
        server = stack.enter_context(corral_server(base / "data", env))
        assert server.link is not None
        api = Api(server.url, exchange(server.url, server.link))
        stack.callback(api.close)
        site = Site(server, api, base / "node")
        api.context = site.context
        created = api.post("/nodes", {"name": "remote"})
        node_home = base / "node-home"
        node_env = corral_env(node_home) if agent_backoff else agent_env(node_home)
        node_env.update(agent_settings or {})
        agent = stack.enter_context(
            node_agent(
                site.node_dir, node_env, control_url=server.url, join_token=created["join_token"]
            )
        )
        site.agents.append(agent)
        site.wait_node("remote")
        api.post("/projects", {"name": "demo", "repo": str(repo)})
        workspace = site.create_workspace("demo", "main", "remote")
        yield Remote(site, agent, workspace["id"], base / "data", env, node_env, stack)


async def test_a_killed_node_daemon_goes_stale_and_relinks_on_restart(tmp_path: Path) -> None:
    with remote_site(tmp_path) as remote:
        site, workspace_id = remote.site, remote.workspace_id
        headers, context = site.api.headers, site.context
        terminal_id = site.new_terminal(workspace_id)
        url = site.url(workspace_id, terminal_id)
        async with open_viewer(url, headers=headers, context=context) as watching:
            await watching.type("echo before-$((7*7))\n")
            await watching.read_until(b"before-49")

            remote.agent.kill()
            stale = site.wait_node("remote", "stale", connected=False)
            assert stale["state_reason"] == "missed heartbeats"
            failed = site.wait_workspace(workspace_id, "error")
            assert "node remote" in failed["state_reason"], failed
            response = site.api.request("POST", f"/workspaces/{workspace_id}/terminals", json={})
            assert response.status_code == 409, response.text

            # The same data directory and no token: the agent links with its saved credential.
            with node_agent(site.node_dir, remote.agent_env) as again:
                site.agents.append(again)
                site.wait_node("remote")
                running = site.wait_workspace(workspace_id, "running")
                assert running["state_reason"] is None
                # Terminals live in the node's PTY host, not in the agent: the terminal is
                # listed again, its output kept, and it still runs the same shell.
                listed = site.api.get(f"/workspaces/{workspace_id}/terminals")
                assert [t["id"] for t in listed] == [terminal_id]
                async with open_viewer(url, headers=headers, context=context) as viewer:
                    await viewer.read_until(b"before-49")  # replayed from before the kill
                    await viewer.type("cat README.md; echo after-$((8*8))\n")
                    await viewer.read_until(b"after-64")
                assert README.strip().encode() in viewer.output


async def test_an_idle_pty_host_is_stopped_and_the_next_terminal_starts_one(
    tmp_path: Path,
) -> None:
    """A node gives its PTY host's memory back once it has held no terminal for a while
    (`terminals.pty_host_idle_seconds`), never while one is open, and the next terminal works
    as the first did."""
    idle = {"CORRAL_NODE_TERMINALS__PTY_HOST_IDLE_SECONDS": "1"}
    with remote_site(tmp_path, agent_settings=idle) as remote:
        site, workspace_id = remote.site, remote.workspace_id
        headers, context = site.api.headers, site.context
        terminal_id = site.new_terminal(workspace_id)
        [host] = pty_hosts(site.node_dir)
        url = site.url(workspace_id, terminal_id)
        async with open_viewer(url, headers=headers, context=context) as viewer:
            await viewer.type("echo one-$((2*3))\n")
            await viewer.read_until(b"one-6")
            # Heartbeats every 0.3 s: many listings past the idle time, each finding it open.
            await asyncio.sleep(3)
            await viewer.type("echo two-$((3*3))\n")
            await viewer.read_until(b"two-9")
        assert pty_hosts(site.node_dir) == [host]

        site.api.request("DELETE", f"/workspaces/{workspace_id}/terminals/{terminal_id}")
        await eventually(
            lambda: not pty_hosts(site.node_dir), "the idle PTY host stopped", context=context
        )
        assert site.node("remote")["connected"] is True
        assert site.api.get(f"/workspaces/{workspace_id}/terminals") == []

        again = site.new_terminal(workspace_id)
        assert len(pty_hosts(site.node_dir)) == 1
        async with open_viewer(
            site.url(workspace_id, again), headers=headers, context=context
        ) as viewer:
            await viewer.type("cat README.md; echo three-$((4*4))\n")
            await viewer.read_until(b"three-16")
        assert README.strip().encode() in viewer.output


async def test_a_restarted_control_plane_gets_its_node_and_terminals_back(tmp_path: Path) -> None:
    # The daemon's own backoff: the 5 s bound is a promise about what users run. Staleness is
    # not under test: a busy machine must not make the node stale between its beats.
    with remote_site(tmp_path, agent_backoff=True, missed_beats=50) as remote:
        site, workspace_id = remote.site, remote.workspace_id
        headers, context = site.api.headers, site.context
        terminal_id = site.new_terminal(workspace_id)
        url = site.url(workspace_id, terminal_id)
        async with open_viewer(url, headers=headers, context=context) as viewer:
            await viewer.type("echo before-$((11*11))\n")
            await viewer.read_until(b"before-121")
            await viewer.drain()
            printed = bytes(viewer.output)

            # In a thread: the old server closes this viewer while it shuts down.
            await asyncio.to_thread(remote.restart_control_plane)
            ready_at = time.monotonic()
            closed = await viewer.wait_closed()
        # `corral workspace shell` reconnects unless the close says the terminal is gone.
        assert closed.code not in FINAL_CLOSE_CODES, closed
        assert bytes(viewer.output) == printed

        def relinked() -> bool:
            node = site.node("remote")
            return node["connected"] is True and node["state"] == "ready"

        await eventually(
            relinked, "the node relinked", wait_seconds=RELINK_SECONDS, context=context
        )
        relinked_after = time.monotonic() - ready_at
        assert relinked_after <= RELINK_SECONDS, relinked_after
        assert remote.agent.process.poll() is None

        site.wait_workspace(workspace_id, "running")
        listed = site.api.get(f"/workspaces/{workspace_id}/terminals")
        assert [t["id"] for t in listed] == [terminal_id]
        resumed_url = site.url(workspace_id, terminal_id, offset=len(printed))
        async with open_viewer(resumed_url, headers=headers, context=context) as resumed:
            assert resumed.offset == len(printed)
            await resumed.type("echo after-$((12*12))\n")
            await resumed.read_until(b"after-144")
        assert b"before-121" not in resumed.output
        async with open_viewer(url, headers=headers, context=context) as replay:
            await replay.read_at_least(len(printed) + len(resumed.output))
        expected = printed + bytes(resumed.output)
        assert bytes(replay.output[: len(expected)]) == expected


async def test_a_paused_node_daemon_goes_stale_and_its_workspace_recovers(tmp_path: Path) -> None:
    """SIGSTOP keeps the TCP connection open but stops the heartbeats, as a suspended VM does;
    when the beats come back the node is ready again, and its workspace must follow."""
    with remote_site(tmp_path) as remote:
        site, workspace_id = remote.site, remote.workspace_id
        terminal_id = site.new_terminal(workspace_id)
        os.kill(remote.agent.pid, signal.SIGSTOP)
        try:
            site.wait_node("remote", "stale", connected=True)
            site.wait_workspace(workspace_id, "error")
        finally:
            os.kill(remote.agent.pid, signal.SIGCONT)
        site.wait_node("remote", "ready")
        site.wait_workspace(workspace_id, "running")
        listed = site.api.get(f"/workspaces/{workspace_id}/terminals")
        assert [t["id"] for t in listed] == [terminal_id]
