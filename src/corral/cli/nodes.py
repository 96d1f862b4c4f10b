"""`corral node`: run a node daemon on this machine, and manage the nodes of a control plane."""

from __future__ import annotations

import os
import secrets
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from corral.cli.account import JsonFlag
from corral.cli.client import ApiClient, open_client, segment
from corral.cli.limits import describe_limits
from corral.cli.output import CliError, console, print_json, print_table, when
from corral.sizes import format_bytes, format_cpus

app = typer.Typer(help="Nodes: the machines workspaces run on.", no_args_is_help=True)

POLL_SECONDS = 1.0
FOLLOW_TIMEOUT_SECONDS = 20 * 60
"""Longer than a provider's deadline (15 min by default), after which the node is in error."""
NoWait = Annotated[bool, typer.Option("--no-wait", help="Return at once; the work carries on.")]


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
    control_url: Annotated[
        str | None,
        typer.Option(
            help="The control plane's URL: https, unless it is on this machine's loopback."
        ),
    ] = None,
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
    insecure: Annotated[
        bool,
        typer.Option(
            "--insecure",
            help="Allow an http control URL to another machine; the join token and the node's "
            "credential then cross the network in clear, so only on a network you trust.",
        ),
    ] = False,
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
    if insecure:
        args.append("--insecure")
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
    ssh: Annotated[
        str | None,
        typer.Option(
            "--ssh",
            metavar="[USER@]HOST",
            help="Install the node on this server over SSH (default user: root).",
        ),
    ] = None,
    port: Annotated[int, typer.Option(help="The server's SSH port.", min=1, max=65535)] = 22,
    key: Annotated[
        str | None,
        typer.Option(help="Your ssh-key credential to log in with (default: your only one)."),
    ] = None,
    no_wait: NoWait = False,
    as_json: JsonFlag = False,
) -> None:
    """Add a node. Without --ssh (owner only): print the command that links a new machine.
    With --ssh: Corral logs in, installs the node daemon as a service and it joins; the
    server's host key is trusted on first use and must match after that."""
    if ssh is None:
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
        return
    user, _, host = ssh.rpartition("@")
    body = {
        "name": name,
        "provider": "ssh",
        "credential": key,
        "ssh": {"host": host, "port": port, "user": user or "root"},
    }
    _make(body, no_wait=no_wait, as_json=as_json)


@app.command("create")
def create(
    name: Annotated[
        str | None, typer.Argument(help="Short name (default: PROVIDER-REGION-xxxx).")
    ] = None,
    provider: Annotated[str, typer.Option(help="A cloud provider, e.g. `hetzner`.")] = "hetzner",
    size: Annotated[str, typer.Option(help="The provider's size (`corral provider sizes`).")] = (
        "cx23"
    ),
    region: Annotated[str, typer.Option(help="The provider's region, e.g. `fsn1`.")] = "fsn1",
    credential: Annotated[
        str | None, typer.Option(help="Your credential for it (default: your only one).")
    ] = None,
    allow_ssh: Annotated[
        bool, typer.Option("--allow-ssh", help="Open port 22 in its firewall (nothing is, else).")
    ] = False,
    no_wait: NoWait = False,
    as_json: JsonFlag = False,
) -> None:
    """Make a machine at a cloud provider (with your credential, at its price) that becomes a
    node: it boots, installs Docker and the node daemon, and joins. Shows each step."""
    body = {
        "name": name or f"{provider}-{region}-{secrets.token_hex(2)}",
        "provider": provider,
        "machine_type": size,
        "region": region,
        "credential": credential,
        "allow_ssh": allow_ssh,
    }
    _make(body, no_wait=no_wait, as_json=as_json)


SETTLED = ("ready", "error", "deleted")


def _make(body: dict[str, Any], *, no_wait: bool, as_json: bool) -> None:
    with open_client() as client:
        node = client.post("/nodes", body)["node"]
        if not no_wait:
            node = _follow(client, node, until=SETTLED)
    if as_json:
        print_json(node)
    elif node["state"] == "ready":
        console.print(f"Node {node['name']} is ready.")
    elif node["state"] != "error":
        console.print(f"Node {node['name']} is {node['state']}; `corral node show` follows it.")
    if node["state"] == "error":
        raise CliError(f"node {node['name']} failed: {node['state_reason']}")


def _follow(client: ApiClient, node: dict[str, Any], *, until: tuple[str, ...]) -> dict[str, Any]:
    """Print each step of making (or removing) a node as it is reported, under a spinner that
    says where it is; Ctrl-C stops following, the work carries on."""
    shown = 0
    deadline = time.monotonic() + FOLLOW_TIMEOUT_SECONDS
    with console.status(f"{node['state'].capitalize()} {node['name']} …") as status:
        while node["state"] not in until:
            log = node["bootstrap_log"]
            # The log keeps its last lines only: find where the new ones start.
            fresh = log[shown:] if shown <= len(log) else log
            for line in fresh:
                console.print(f"  {when(line['at'])}  {line['step']}", markup=False)
            shown = len(log)
            status.update(f"{node['state'].capitalize()} {node['name']} …")
            if time.monotonic() > deadline:
                raise CliError(
                    f"{node['name']} is still {node['state']}; `corral node show "
                    f"{node['name']}` follows it"
                )
            time.sleep(POLL_SECONDS)
            try:
                node = client.get(f"/nodes/{node['id']}")
            except CliError:
                if "deleted" in until:  # removed nodes are not found any more
                    return {**node, "state": "deleted"}
                raise
        for line in node["bootstrap_log"][shown:]:
            console.print(f"  {when(line['at'])}  {line['step']}", markup=False)
    return node


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
        spend = client.get("/costs")
    if as_json:
        print_json(nodes)
        return
    print_table(
        nodes,
        [
            ("NAME", lambda n: n["name"]),
            ("PROVIDER", _where),
            ("PRICE", _price),
            ("STATE", lambda n: n["state"]),
            ("LINKED", lambda n: "yes" if n["connected"] else "no"),
            ("LAST SEEN", lambda n: when(n["last_seen_at"])),
            ("USE", _use),
            ("VERSION", lambda n: n["version"] or "-"),
        ],
        empty="No nodes. `corral up` runs a local one; `corral node add NAME` adds another.",
    )
    for entry in spend:
        console.print(
            f"This month: {entry['this_month']:.2f} {entry['currency']} for {entry['user_name']}"
            f" ({entry['per_hour_now']:.4f} {entry['currency']}/h running now)",
            markup=False,
        )


def _where(node: dict[str, Any]) -> str:
    """`hetzner cx23/fsn1`, `ssh root@host`, `manual`."""
    if node["machine_type"]:
        return f"{node['provider']} {node['machine_type']}/{node['region']}"
    options = node["options"]
    if node["provider"] == "ssh" and "host" in options:
        return f"ssh {options.get('user', 'root')}@{options['host']}"
    return str(node["provider"])


def _price(node: dict[str, Any]) -> str:
    if node["hourly_price"] is None:
        return "-"
    return f"{node['hourly_price']:.4f} {node['currency']}/h"


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
    console.print(f"  provider: {_where(found)}", markup=False)
    if found["hourly_price"] is not None:
        console.print(
            f"  price: {_price(found)}, {found['cost_this_month'] or 0:.2f} "
            f"{found['currency']} this month",
            markup=False,
        )
    if found["host_key_fingerprint"]:
        console.print(f"  host key: {found['host_key_fingerprint']}", markup=False)
    if found["last_error"] and found["state"] != "ready":
        console.print(f"  last error: {found['last_error']}", markup=False)
    if found["state"] in ("pending", "provisioning", "joining", "deleting", "error"):
        for line in found["bootstrap_log"][-10:]:
            console.print(f"    {when(line['at'])}  {line['step']}", markup=False)
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
def remove(
    node: Annotated[str, typer.Argument(help="Name or id.")],
    no_wait: NoWait = False,
) -> None:
    """Remove a node: its credential stops working at once. A cloud machine is deleted at
    its provider (its bill ends); a node added over SSH is uninstalled from the server."""
    with open_client() as client:
        found = client.delete(f"/nodes/{segment(node)}")
        if found["state"] == "deleting" and not no_wait:
            found = _follow(client, found, until=("deleted",))
    if found["state"] == "deleting":
        console.print(f"Removing node {node}; its machine is being deleted.")
    else:
        console.print(f"Removed node {node}.")


@app.command("default")
def default(
    provider: Annotated[
        str | None, typer.Option(help="The provider to make the node with, e.g. `hetzner`.")
    ] = None,
    size: Annotated[str | None, typer.Option(help="Its size (`corral provider sizes`).")] = None,
    region: Annotated[str | None, typer.Option(help="Its region.")] = None,
    credential: Annotated[str | None, typer.Option(help="Your credential for it.")] = None,
    clear: Annotated[
        bool, typer.Option("--clear", help="Wait for room again instead of making a node.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Show or set the node Corral makes for you when one of your workspaces finds no room on
    any node (with your credential, within the limits on nodes and spend)."""
    with open_client() as client:
        if clear:
            client.delete("/providers/default-node")
            console.print("Workspaces that find no room wait for it.")
            return
        if provider is not None:
            body = {
                "provider": provider,
                "machine_type": size,
                "region": region,
                "credential": credential,
            }
            template = client.put("/providers/default-node", body)
        else:
            template = client.get("/providers/default-node")
    if as_json:
        print_json(template)
    elif template is None:
        console.print("No default node: workspaces that find no room wait for it.")
    else:
        where = "/".join(filter(None, [template["machine_type"], template["region"]]))
        console.print(
            f"When a workspace finds no room: a {template['provider']} node {where}".rstrip(),
            markup=False,
        )
