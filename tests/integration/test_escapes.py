"""Escapes from a workspace, tried the way an attacker with a workspace would, against real
processes, in the three ways Corral runs a node:

- `corral up`: the control plane and its local node (as root);
- `corral serve` and `corral node run` on one machine, both as root (a cloud node is root);
- the same with the node run as a normal user (nobody), from an install that user can read.

In each: a shell in the workspace tries kernel settings, the control plane's and the node's
data directories, /root, another workspace, a file outside the sandbox's allow-list and
services on the host's 127.0.0.1; and a hostile ACP agent races symlinks and
`renameat2(RENAME_EXCHANGE)` against the node's `fs/*` for 10,000 requests. Zero may succeed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.gitserver import git_daemon
from tests.support.nodes import Api, exchange, node_agent, open_viewer, terminal_url
from tests.support.processes import CORRAL, CorralServer, corral_env, corral_server, run_cli
from tests.support.sessions import agent_message_text, make_repo
from tests.support.uservenv import NOBODY, as_user, install_for_users
from tests.support.waits import eventually_sync

WAIT_SECONDS = 120.0
HOSTILE_ROUNDS = 2500  # four requests a round
HOSTILE_AGENT = Path(__file__).parents[1] / "support" / "hostile_agent.py"
OUTSIDE_TEXT = "a file outside the sandbox's allow-list"
MODES = ["up", "serve-root", "serve-user"]


@dataclass
class Target:
    mode: str
    api: Api
    server: CorralServer
    control_data: Path
    node_dir: Path
    workspace_id: str
    other_id: str
    outside: Path
    """A directory outside every workspace: a world-readable file in it must stay unseen, and
    nothing may be written into it."""

    @property
    def checkout(self) -> Path:
        return self.node_dir / "workspaces" / self.workspace_id / "repo"

    @property
    def credential(self) -> str:
        value: str = json.loads((self.node_dir / "node.json").read_text())["credential"]
        return value


@pytest.fixture(scope="module", params=MODES)
def target(request: pytest.FixtureRequest) -> Iterator[Target]:
    mode: str = request.param
    # Under /var/tmp and open to everyone to traverse: a node run as nobody must reach its
    # own directories and the project's repository (pytest's directories are root's only).
    base = Path(tempfile.mkdtemp(prefix=f"corral-escapes-{mode}-", dir="/var/tmp"))
    base.chmod(0o755)
    try:
        with ExitStack() as stack:
            yield _start(mode, base, stack)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _start(mode: str, base: Path, stack: ExitStack) -> Target:
    files = {"README.md": "escapes\n", "hostile_agent.py": HOSTILE_AGENT.read_text()}
    repo = make_repo(base / "repo", files)
    outside = base / "outside"
    outside.mkdir()
    (outside / "world-readable.txt").write_text(OUTSIDE_TEXT)
    # Readable by everyone: only the sandbox's allow-list can keep it from a workspace.
    (outside / "world-readable.txt").chmod(0o644)
    outside.chmod(0o755)
    control_data = base / "control"
    env = corral_env(base / "server-home", None, CORRAL_NODES__HEARTBEAT_INTERVAL_SECONDS="1")
    command = "up" if mode == "up" else "serve"
    extra = ["--no-browser"] if mode == "up" else []
    server = stack.enter_context(
        corral_server(control_data, env, command=command, extra_args=extra)
    )
    assert server.link is not None
    api = Api(server.url, exchange(server.url, server.link))
    stack.callback(api.close)
    if mode == "up":
        node_name, node_dir = "local", control_data / "node"
    else:
        node_name, node_dir = "n1", base / "node"
        created = api.post("/nodes", {"name": node_name})
        node_command: list[str] = [CORRAL]
        if mode == "serve-user":
            node_command = [*as_user(NOBODY), str(install_for_users(base / "install"))]
            node_dir.mkdir()
            for path in (node_dir, outside):
                os.chown(path, NOBODY, NOBODY)
        node_env = corral_env(base / "node-home", None, CORRAL_NODE_RECONNECT_MIN_SECONDS="0.1")
        if mode == "serve-user":
            (base / "node-home").mkdir(exist_ok=True)
            os.chown(base / "node-home", NOBODY, NOBODY)
        stack.enter_context(
            node_agent(
                node_dir,
                node_env,
                control_url=server.url,
                join_token=created["join_token"],
                command=node_command,
            )
        )
    eventually_sync(
        lambda: next(n for n in api.get("/nodes")["items"] if n["name"] == node_name)["connected"],
        "the node linked",
        wait_seconds=WAIT_SECONDS,
        context=server.stderr,
    )
    # Over git://: a node run as another user may not read a local repository root owns.
    served = stack.enter_context(git_daemon(repo.parent))
    api.post("/projects", {"name": "demo", "repo": f"{served}/{repo.name}"})
    workspace = api.post("/workspaces", {"project": "demo", "name": "w1", "node": node_name})
    other = api.post("/workspaces", {"project": "demo", "name": "w2", "node": node_name})
    for created_workspace in (workspace, other):
        api.workspace_running(created_workspace["id"], WAIT_SECONDS)
    (node_dir / "workspaces" / other["id"] / "repo" / "other-secret.txt").write_text("other")
    return Target(mode, api, server, control_data, node_dir, workspace["id"], other["id"], outside)


def test_the_node_reports_the_whole_sandbox(target: Target, tmp_path: Path) -> None:
    node = next(n for n in target.api.get("/nodes")["items"] if n["connected"])
    isolation = eventually_sync(
        lambda: node_isolation(target),
        "the node's isolation",
        wait_seconds=30,
        context=target.server.stderr,
    )
    as_user = target.mode == "serve-user"
    assert isolation == {
        "sandbox": "bwrap",
        "user": "user_namespace" if as_user else "workspace_uid",
        "network": "isolated",
        "file_access": "openat2",
        "problems": [],
    }, node
    cli_env = corral_env(tmp_path, CORRAL_URL=target.server.url, CORRAL_TOKEN=target.api.token)
    shown = run_cli("node", "show", node["name"], env=cli_env)
    assert shown.returncode == 0, shown.stderr
    user = "the node's user in a user namespace" if as_user else "a uid per workspace"
    expected = (
        f"isolation: sandbox (bubblewrap), {user}, its own network (no host loopback), "
        "race-free file access"
    )
    assert expected in " ".join(shown.stdout.split()), shown.stdout


def node_isolation(target: Target) -> dict[str, object] | None:
    for node in target.api.get("/nodes")["items"]:
        if node["connected"] and "isolation" in node["capacity"]:
            found: dict[str, object] = node["capacity"]["isolation"]
            return found
    return None


async def test_a_shell_in_the_workspace_reaches_nothing_of_the_host(target: Target) -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    hostname = socket.gethostname()
    other_repo = target.node_dir / "workspaces" / target.other_id / "repo"
    secret_key = target.control_data / "secret.key"
    created = target.api.post(f"/workspaces/{target.workspace_id}/terminals", {})
    url = terminal_url(target.server.url, target.workspace_id, created["id"])
    sysctls = ["kernel/hostname", "kernel/core_pattern", "vm/drop_caches", "net/ipv4/ip_forward"]
    try:
        async with open_viewer(url, headers=target.api.headers) as viewer:
            results = await viewer.run(
                [
                    "echo alive > made-here.txt && cat made-here.txt && id -u",
                    "; ".join(
                        f"(echo 1 > /proc/sys/{s}) 2>/dev/null && echo WROTE" for s in sysctls
                    ),
                    f"ls -A {target.control_data} 2>/dev/null",
                    f"cat {secret_key} 2>/dev/null",
                    f"ls -A {target.node_dir} 2>/dev/null",
                    f"cat {target.node_dir}/node.json 2>/dev/null",
                    "ls -A /root /home /opt /srv /var/lib 2>/dev/null | wc -l",
                    f"cat {other_repo}/other-secret.txt 2>/dev/null; ls -A {other_repo} 2>/dev/null"
                    " | wc -l",
                    f"cat {target.outside}/world-readable.txt 2>/dev/null",
                    *(
                        f"(exec 3<>/dev/tcp/{host}/{p}) 2>/dev/null && echo CONNECTED"
                        for host, p in (
                            ("127.0.0.1", port),
                            ("127.0.0.1", target.server.port),
                            ("10.0.2.2", target.server.port),
                        )
                    ),
                ]
            )
    finally:
        listener.close()
    alive, *attempts = results
    assert alive[0].split() == ["alive", alive[0].split()[1]] and alive[1] == 0, alive
    assert int(alive[0].split()[1]) != 0, "a workspace never runs as root"
    assert (target.checkout / "made-here.txt").read_text() == "alive\n"
    sysctl, control, key, node, credential, homes, other, outside, *connects = attempts
    assert "WROTE" not in sysctl[0], sysctl
    assert socket.gethostname() == hostname
    # The way down to the workspace shows (empty) directories, never the files beside it.
    for listing in (control, node):
        assert not {"secret.key", "corral.db", "node.json"} & set(listing[0].split()), listing
    for read in (key, credential, outside):
        assert read[0].strip() == "" and read[1] != 0, read
    assert homes[0].split() == ["0"], homes
    assert other[0].split() == ["0"], other
    for connect in connects:
        assert "CONNECTED" not in connect[0], connect


def test_a_hostile_agent_racing_links_gets_nothing_out(target: Target) -> None:
    api = target.api
    if not any(a["name"] == "hostile" for a in api.get("/agents")):
        api.post(
            "/agents", {"name": "hostile", "command": ["/usr/bin/python3", "hostile_agent.py"]}
        )
    session = api.post("/sessions", {"workspace": target.workspace_id, "agent": "hostile"})
    before = sorted(p.name for p in target.outside.iterdir())
    credential = target.credential
    plan = {
        "secret": str(target.node_dir / "node.json"),
        "marker": credential,
        "outside": str(target.outside),
        "rounds": HOSTILE_ROUNDS,
    }
    accepted = api.post(
        f"/sessions/{session['id']}/prompts", {"text": json.dumps(plan)}, expect=202
    )

    def ended() -> list[dict[str, object]] | None:
        page = api.get(f"/sessions/{session['id']}/events?limit=5000")["items"]
        done = any(
            e["kind"] == "turn_end" and e["payload"]["prompt_id"] == accepted["prompt_id"]
            for e in page
        )
        session_now = api.get(f"/sessions/{session['id']}")
        if session_now["state"] == "error":
            pytest.fail(f"the hostile agent's session failed: {session_now}")
        return page if done else None

    events = eventually_sync(
        ended, "the hostile turn's end", wait_seconds=600, context=target.server.stderr
    )
    report = json.loads(agent_message_text(events))
    assert report["requests"] == 4 * HOSTILE_ROUNDS
    assert report["leaked"] == 0, report
    assert "-32603" not in report["codes"], "errors are precise, never internal"
    assert sorted(p.name for p in target.outside.iterdir()) == before
    assert target.credential == credential
    api.post(f"/sessions/{session['id']}/stop", None, expect=200)
