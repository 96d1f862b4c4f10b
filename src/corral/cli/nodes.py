"""`corral node`: run a node daemon on this machine, and manage the nodes of a control plane."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from corral.cli.account import JsonFlag
from corral.cli.client import open_client, segment
from corral.cli.limits import describe_limits
from corral.cli.output import console, print_json, print_table, when
from corral.sizes import format_bytes, format_cpus

app = typer.Typer(help="Nodes: the machines workspaces run on.", no_args_is_help=True)


def _gib(value: Any) -> str:
    return f"{int(value) / 2**30:.1f}G" if value else "-"


def _use(node: dict[str, Any]) -> str:
    usage, capacity = node["usage"], node["capacity"]
    if not usage:
        return "-"
    counts = f"{usage.get('workspaces', 0)} ws"
    # A member is shown their own counts, and the node counts terminals only machine-wide.
    if "terminals" in usage:
        counts += f", {usage['terminals']} term"
    return (
        f"load {usage.get('load1', 0):.2f}/{capacity.get('cpus', '?')} cpu, "
        f"mem {_gib(usage.get('memory_bytes'))}/{_gib(capacity.get('memory_bytes'))}, {counts}"
    )


@app.command("run")
def run(
    control_url: Annotated[str | None, typer.Option(help="The control plane's URL.")] = None,
    join_token: Annotated[
        str | None,
        typer.Option(
            envvar="CORRAL_NODE_JOIN_TOKEN",
            help="Single-use token from `corral node add` (first run only); better given in "
            "CORRAL_NODE_JOIN_TOKEN, as other users can read a command line.",
        ),
    ] = None,
    data_dir: Annotated[
        Path | None,
        typer.Option(
            help="The node's data directory (default: CORRAL_NODE_DATA_DIR or the platform's)."
        ),
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="Stop a node daemon already running on this data directory (one left behind "
            "by a crash) instead of refusing to start.",
        ),
    ] = False,
    parent_pid: Annotated[
        int | None,
        typer.Option(hidden=True, help="Stop when this process, the supervisor, exits."),
    ] = None,
) -> None:
    """Run the node daemon here: join once with a token, then stay linked (dialling out only)."""
    args = ["run"]
    if control_url is not None:
        args += ["--control-url", control_url]
    if data_dir is not None:
        args += ["--data-dir", str(data_dir)]
    if replace:
        args.append("--replace")
    if parent_pid is not None:
        args += ["--parent-pid", str(parent_pid)]
    if join_token is not None:
        os.environ["CORRAL_NODE_JOIN_TOKEN"] = join_token
    _become_node_process(args)


def _become_node_process(args: list[str]) -> None:
    """Replace this process with `python -m corral.node ARGS` (see `corral.node.__main__`):
    the daemon then carries none of the CLI's and control plane's libraries."""
    from corral.node.__main__ import node_command

    argv = node_command(*args)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(argv[0], argv)  # noqa: S606  (this interpreter, our own module, no shell)


@app.command("pty-host", hidden=True)
def pty_host(
    data_dir: Annotated[Path, typer.Option(help="The node's data directory.")],
) -> None:
    """Hold the node's terminals (started by the node daemon; not for people)."""
    _become_node_process(["pty-host", "--data-dir", str(data_dir)])


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Short name, e.g. `build-box`.")],
    as_json: JsonFlag = False,
) -> None:
    """Add a node (owner only) and print the command that links the new machine."""
    with open_client() as client:
        created = client.post("/nodes", {"name": name})
    if as_json:
        print_json(created)
        return
    console.print(
        f"Added node {name}. On that machine run (the token works once, until "
        f"{when(created['expires_at'])} UTC):"
    )
    print(created["join_command"])


@app.command("token")
def token(
    node: Annotated[str, typer.Argument(help="Name or id of a node that has not joined yet.")],
    as_json: JsonFlag = False,
) -> None:
    """Make a new join token for a node that has not joined yet (owner only): its earlier
    tokens stop working. Prints the command that links the new machine."""
    with open_client() as client:
        created = client.post(f"/nodes/{segment(node)}/join-token")
    if as_json:
        print_json(created)
        return
    console.print(
        f"New join token for {created['node']['name']}; earlier ones no longer work. On that "
        f"machine run (the token works once, until {when(created['expires_at'])} UTC):"
    )
    print(created["join_command"])


@app.command("list")
def list_nodes(as_json: JsonFlag = False) -> None:
    """List nodes with their state, last heartbeat, capacity and use."""
    with open_client() as client:
        nodes = client.get_all("/nodes")
    if as_json:
        print_json(nodes)
        return
    print_table(
        nodes,
        [
            ("NAME", lambda n: n["name"]),
            ("STATE", lambda n: n["state"]),
            ("LINKED", lambda n: "yes" if n["connected"] else "no"),
            ("LAST SEEN", lambda n: when(n["last_seen_at"])),
            ("USE", _use),
            ("VERSION", lambda n: n["version"] or "-"),
        ],
        empty="No nodes. `corral up` runs a local one; `corral node add NAME` adds another.",
    )


@app.command("show")
def show(
    node: Annotated[str, typer.Argument(help="Name or id.")], as_json: JsonFlag = False
) -> None:
    """Show one node."""
    with open_client() as client:
        found = client.get(f"/nodes/{segment(node)}")
    if as_json:
        print_json(found)
        return
    console.print(
        f"{found['name']}  {found['id']}  {found['state']}"
        f"{' (' + found['state_reason'] + ')' if found['state_reason'] else ''}"
    )
    console.print(
        f"  linked: {'yes' if found['connected'] else 'no'}, last seen "
        f"{when(found['last_seen_at'])}, version {found['version'] or '-'}"
    )
    console.print(f"  use: {_use(found)}")
    capacity = found["capacity"]
    if "allocatable_cpus" in capacity:
        offered = f"{format_cpus(capacity['allocatable_cpus'])}"
        offered += f", {format_bytes(capacity.get('allocatable_memory_bytes', 0))} of memory"
        console.print(f"  offers workspaces: {offered}")
    for runtime in found["runtimes"]:
        console.print(f"  runtime {_runtime(runtime)}", markup=False)
    isolation = found["capacity"].get("isolation")
    if isolation:
        console.print(f"  isolation: {_isolation(isolation)}")
        for problem in isolation.get("problems", []):
            console.print(f"    missing: {problem}", markup=False)
    network = found["capacity"].get("network")
    if network:
        names = ", ".join(network.get("variables", [])) or "none"
        console.print(f"  network variables passed on: {names}", markup=False)
        for problem in network.get("problems", []):
            console.print(f"    {problem}", markup=False)


def _runtime(runtime: dict[str, Any]) -> str:
    """`devcontainer: not available (Docker is not running)`, `host: limits not enforced`."""
    if not runtime["available"]:
        return f"{runtime['name']}: not available ({runtime['problem'] or 'no reason given'})"
    if not runtime["limits"]:
        return f"{runtime['name']}: available, limits not enforced"
    defaults = describe_limits(runtime["default_limits"], "none")
    return f"{runtime['name']}: available, limits enforced (default: {defaults})"


def _isolation(isolation: dict[str, Any]) -> str:
    """One line on how the node keeps workspaces apart (see docs/security.md)."""
    if isolation.get("sandbox") != "bwrap":
        return "none: workspaces run as the node's user and see what it sees"
    user = {
        "workspace_uid": "a uid per workspace",
        "user_namespace": "the node's user in a user namespace",
    }.get(isolation.get("user", ""), "the node's user")
    network = (
        "its own network (no host loopback)"
        if isolation.get("network") == "isolated"
        else "the host's network"
    )
    return f"sandbox (bubblewrap), {user}, {network}, race-free file access"


@app.command("rm")
def remove(node: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Remove a node (owner only): its credential stops working at once."""
    with open_client() as client:
        client.delete(f"/nodes/{segment(node)}")
    console.print(f"Removed node {node}.")
