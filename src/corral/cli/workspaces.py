"""`corral workspace`: make workspaces from projects, manage them, and open shells in them."""

from __future__ import annotations

import shutil
import time
from typing import Annotated, Any

import typer

from corral.cli.account import JsonFlag
from corral.cli.client import ApiClient, load_login, open_client, segment
from corral.cli.idle import WorkspaceIdleTimeout, describe_idle, parse_idle_timeout
from corral.cli.limits import RuntimeOption, describe_limits
from corral.cli.output import CliError, console, err_console, print_json, print_table, when
from corral.settings import ClientSettings

app = typer.Typer(help="Workspaces: checkouts of a project on a node.", no_args_is_help=True)

WAIT_TIMEOUT_SECONDS = 600
POLL_SECONDS = 0.5


UNSETTLED = ("pending", "creating", "starting", "stopping", "rebuilding")
"""States a workspace passes through on its way somewhere; the CLI follows them."""


def _show(ws: dict[str, Any]) -> None:
    reason = f" ({ws['state_reason']})" if ws["state_reason"] else ""
    console.print(f"{ws['name']}  {ws['id']}  {ws['state']}{reason}")
    node = ws["node_id"] or "-"
    if ws["state"] == "pending" and ws["node_id"]:
        node = f"{node} (waiting for it)"
    console.print(
        f"  branch {ws['branch']}, runtime {ws['runtime']}, node {node}, "
        f"created {when(ws['created_at'])}"
    )
    console.print(f"  limits: {describe_limits(ws['limits'], 'none')}")
    if "idle_timeout_minutes" in ws:
        console.print(f"  {describe_idle(ws)}")


def _progress(ws: dict[str, Any], lines: list[str]) -> str:
    """The spinner's text: the state, and why it waits or the node's last progress line."""
    text = f"{ws['state'].capitalize()} {ws['name']}"
    if ws["state"] == "pending" and ws["state_reason"]:
        return f"{text}: {ws['state_reason']}"
    return f"{text}: {lines[-1][:100]}" if lines else f"{text} …"


def _wait_until_settled(client: ApiClient, ws: dict[str, Any]) -> dict[str, Any]:
    """Follow a workspace being placed, made, started or rebuilt, showing why it waits and the
    node's progress lines. Ctrl-C stops following; the workspace carries on."""
    deadline = time.monotonic() + WAIT_TIMEOUT_SECONDS
    with console.status(_progress(ws, [])) as status:
        while ws["state"] in UNSETTLED:
            if time.monotonic() > deadline:
                if ws["state"] == "pending":
                    raise CliError(
                        f"{ws['name']} is still waiting for a node ({ws['state_reason']}); it "
                        f"is placed once one has room, or `corral workspace rm {ws['name']}` "
                        "drops it"
                    )
                raise CliError(
                    f"{ws['name']} is still {ws['state']}; check `corral workspace show`"
                )
            lines = client.get(f"/workspaces/{ws['id']}/log")["lines"]
            status.update(_progress(ws, lines))
            time.sleep(POLL_SECONDS)
            ws = client.get(f"/workspaces/{ws['id']}")
    return ws


@app.command("create")
def create(
    project: Annotated[str, typer.Argument(help="Project name or id.")],
    name: Annotated[str | None, typer.Option(help="Workspace name (default: PROJECT-N).")] = None,
    branch: Annotated[str | None, typer.Option(help="Branch (default: the project's).")] = None,
    node: Annotated[
        str | None, typer.Option(help="Node (default: a ready node with room, the least busy).")
    ] = None,
    runtime: RuntimeOption = None,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return at once, while it waits for a node.")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Make a workspace: the project's repository checked out on a node. It waits in `pending`
    (saying why) until a node has room for it; the runtime and limits are the project's."""
    body = {"project": project, "name": name, "branch": branch, "node": node, "runtime": runtime}
    with open_client() as client:
        ws = client.post("/workspaces", body)
        if not no_wait:
            ws = _wait_until_settled(client, ws)
    if as_json:
        print_json(ws)
    else:
        _show(ws)
    if ws["state"] == "error":
        raise CliError(f"workspace {ws['name']} failed: {ws['state_reason']}")


@app.command("list")
def list_workspaces(
    project: Annotated[str | None, typer.Option(help="Only this project's.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List your workspaces."""
    with open_client() as client:
        rows = client.get_all("/workspaces", project=project)
    if as_json:
        print_json(rows)
        return
    print_table(
        rows,
        [
            ("NAME", lambda w: w["name"]),
            ("STATE", lambda w: w["state"]),
            ("BRANCH", lambda w: w["branch"]),
            ("RUNTIME", lambda w: w["runtime"]),
            ("NODE", lambda w: w["node_id"] or "-"),
            ("CREATED", lambda w: when(w["created_at"])),
        ],
        empty="No workspaces. Make one with `corral workspace create PROJECT`.",
    )


@app.command("show")
def show(
    workspace: Annotated[str, typer.Argument(help="Name or id.")], as_json: JsonFlag = False
) -> None:
    """Show one workspace."""
    with open_client() as client:
        ws = client.get(f"/workspaces/{segment(workspace)}")
    if as_json:
        print_json(ws)
    else:
        _show(ws)


@app.command("set")
def update(
    workspace: Annotated[str, typer.Argument(help="Name or id.")],
    idle_timeout: WorkspaceIdleTimeout = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a workspace's own idle timeout (`default`: its project's again)."""
    if idle_timeout is None:
        raise CliError("nothing to change: give --idle-timeout")
    body = {"idle_timeout_minutes": parse_idle_timeout(idle_timeout)}
    with open_client() as client:
        ws = client.patch(f"/workspaces/{segment(workspace)}", body)
    if as_json:
        print_json(ws)
    else:
        _show(ws)


def _transition(
    workspace: str, verb: str, as_json: bool, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    with open_client() as client:
        ws = client.post(f"/workspaces/{segment(workspace)}/{verb}", body)
        ws = _wait_until_settled(client, ws)
    if as_json:
        print_json(ws)
    else:
        _show(ws)
    return ws


@app.command("stop")
def stop(
    workspace: Annotated[str, typer.Argument(help="Name or id.")], as_json: JsonFlag = False
) -> None:
    """Stop a workspace: its terminals end, its files stay."""
    _transition(workspace, "stop", as_json)


@app.command("start")
def start(
    workspace: Annotated[str, typer.Argument(help="Name or id.")], as_json: JsonFlag = False
) -> None:
    """Start a stopped workspace."""
    _transition(workspace, "start", as_json)


@app.command("rebuild")
def rebuild(
    workspace: Annotated[str, typer.Argument(help="Name or id.")],
    default_image: Annotated[
        bool,
        typer.Option(
            "--default-image",
            help="Ignore the repository's devcontainer configuration and use the node's default "
            "image (when its build fails).",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Make the workspace's container again from its devcontainer configuration, keeping the
    checkout, and show the build's progress."""
    ws = _transition(workspace, "rebuild", as_json, {"default_image": default_image})
    if ws["state"] == "error":
        hint = "" if default_image else "; `--default-image` skips the repository's configuration"
        raise CliError(f"rebuilding {ws['name']} failed: {ws['state_reason']}{hint}")


@app.command("rm")
def remove(workspace: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Delete a workspace and its files on the node."""
    with open_client() as client:
        client.delete(f"/workspaces/{segment(workspace)}")
    console.print(f"Deleted workspace {workspace}.")


@app.command("terminals")
def terminals(
    workspace: Annotated[str, typer.Argument(help="Name or id.")], as_json: JsonFlag = False
) -> None:
    """List a workspace's terminals."""
    with open_client() as client:
        rows = client.get(f"/workspaces/{segment(workspace)}/terminals")
    if as_json:
        print_json(rows)
        return
    print_table(
        rows,
        [
            ("ID", lambda t: t["id"]),
            ("SIZE", lambda t: f"{t['cols']}x{t['rows']}"),
            ("VIEWERS", lambda t: str(t["viewers"])),
            ("STATE", lambda t: f"exited {t['exit_status']}" if t["exited"] else "running"),
            ("LAST ATTACHED", lambda t: when(t["last_attached_at"])),
        ],
        empty="No terminals.",
    )


@app.command("shell")
def shell(
    workspace: Annotated[str, typer.Argument(help="Name or id.")],
    terminal: Annotated[str | None, typer.Option(help="Attach this terminal.")] = None,
    new: Annotated[bool, typer.Option("--new", help="Open a new terminal.")] = False,
) -> None:
    """Attach this terminal to a shell in the workspace; Enter ~ . detaches, leaving it running.

    Without options it reattaches the terminal you used last, or opens one if there is none.
    """
    from corral.cli.shell import attach

    if terminal and new:
        raise CliError("use --terminal or --new, not both")
    settings = ClientSettings()
    login = load_login(settings)
    if login is None:
        raise CliError("not signed in: run `corral login LINK` with a link from `corral auth link`")
    with open_client(settings) as client:
        ws = client.get(f"/workspaces/{segment(workspace)}")
        base = f"/workspaces/{ws['id']}/terminals"
        if terminal is None:
            existing = [t for t in client.get(base) if not t["exited"]]
            if existing and not new:
                recent = max(existing, key=lambda t: t["last_attached_at"] or t["created_at"])
                terminal = recent["id"]
            else:
                size = shutil.get_terminal_size()
                terminal = client.post(base, {"cols": size.columns, "rows": size.lines})["id"]
    assert terminal is not None
    ended = attach(login.url, login.token, ws["id"], terminal)
    err_console.print(f"\r\n[{ended}]")
