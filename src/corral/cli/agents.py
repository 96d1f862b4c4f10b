"""`corral agent`: the agent catalog, your own ACP agents, and how agents are run."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from corral.cli.account import JsonFlag
from corral.cli.client import open_client, segment
from corral.cli.output import CliError, console, print_json, print_table

app = typer.Typer(help="Coding agents: the catalog and their settings.", no_args_is_help=True)

CLEARABLE = ("credential", "model", "policy", "endpoint", "env", "args")


@app.command("list")
def list_agents(as_json: JsonFlag = False) -> None:
    """The agents you can run: built in, and the ones you added."""
    with open_client() as client:
        rows = client.get("/agents")
        nodes = client.get_all("/nodes")
    if as_json:
        print_json(rows)
        return
    installed: dict[str, list[str]] = {}
    for node in nodes:
        for package in (node.get("usage") or {}).get("agents") or []:
            installed.setdefault(package, []).append(node["name"])

    def where(agent: dict[str, Any]) -> str:
        if not agent["package"]:
            return "(a command on the node)"
        names = installed.get(f"{agent['package']}@{agent['version']}", [])
        return ", ".join(names) or "not yet (installed on first use)"

    print_table(
        rows,
        [
            ("NAME", lambda a: a["name"]),
            ("TITLE", lambda a: a["title"]),
            ("PACKAGE", lambda a: f"{a['package']}@{a['version']}" if a["package"] else "-"),
            ("CREDENTIALS", lambda a: ", ".join(a["credential_kinds"]) or "-"),
            ("INSTALLED ON", where),
        ],
        empty="No agents.",
    )


@app.command("add", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name for the agent.")],
    as_json: JsonFlag = False,
) -> None:
    """Add your own ACP agent: `corral agent add NAME -- COMMAND ARGS...`."""
    command = list(ctx.args)
    if not command:
        raise CliError(
            "give the agent's command after --, e.g. `corral agent add mine -- my-agent --acp`"
        )
    with open_client() as client:
        agent = client.post("/agents", {"name": name, "command": command})
    if as_json:
        print_json(agent)
    else:
        console.print(f"added {agent['name']}: {' '.join(agent['command'])}")


@app.command("rm")
def remove(name: Annotated[str, typer.Argument(help="An agent you added.")]) -> None:
    """Remove an agent you added."""
    with open_client() as client:
        client.delete(f"/agents/{segment(name)}")
    console.print(f"removed {name}")


def _print_settings(settings: dict[str, Any]) -> None:
    scope = f"project {settings['project_id']}" if settings["project_id"] else "your default"
    console.print(f"{settings['agent']} ({scope})")
    console.print(f"  credential  {settings['credential'] or '-'}")
    console.print(f"  model       {settings['model'] or '(the agent default)'}")
    console.print(f"  policy      {settings['policy']}")
    console.print(f"  endpoint    {settings['endpoint'] or '(the provider default)'}")
    for key, value in sorted(settings["env"].items()):
        console.print(f"  env         {key}={value}")
    if settings["args"]:
        console.print(f"  args        {' '.join(settings['args'])}")


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Agent name.")],
    project: Annotated[str | None, typer.Option(help="With this project's settings.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show an agent and the settings its sessions get."""
    with open_client() as client:
        agent = client.get(f"/agents/{segment(name)}")
        settings = client.get(f"/agents/{segment(name)}/settings", project=project)
    if as_json:
        print_json({"agent": agent, "settings": settings})
        return
    package = f"{agent['package']}@{agent['version']}" if agent["package"] else "-"
    console.print(
        f"{agent['title']} ({agent['name']}): {package}, runs {' '.join(agent['command'])}"
    )
    _print_settings(settings)


def _pairs(values: list[str] | None, what: str) -> dict[str, str] | None:
    if not values:
        return None
    pairs = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise CliError(f"{what} must be KEY=VALUE, not {value!r}")
        pairs[key] = val
    return pairs


@app.command("configure")
def configure(
    name: Annotated[str, typer.Argument(help="Agent name.")],
    project: Annotated[str | None, typer.Option(help="Only in this project.")] = None,
    credential: Annotated[str | None, typer.Option(help="A credential's name.")] = None,
    model: Annotated[str | None, typer.Option(help="The model to pick.")] = None,
    policy: Annotated[
        str | None, typer.Option(help="ask, allow-reads, allow-edits or allow-all.")
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option(help="The model API's base URL (a gateway or proxy).")
    ] = None,
    env: Annotated[list[str] | None, typer.Option("--env", help="KEY=VALUE (repeatable).")] = None,
    unset_env: Annotated[list[str] | None, typer.Option("--unset-env", help="KEY.")] = None,
    arg: Annotated[list[str] | None, typer.Option("--arg", help="An extra argument.")] = None,
    clear: Annotated[
        list[str] | None, typer.Option("--clear", help=f"Unset one of {', '.join(CLEARABLE)}.")
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Set how an agent runs, for you or for one project."""
    body: dict[str, Any] = {
        "project": project,
        "credential": credential,
        "model": model,
        "policy": policy,
        "endpoint": endpoint,
        "env": _pairs(env, "--env"),
        "unset_env": unset_env or [],
        "args": arg,
        "clear": clear or [],
    }
    with open_client() as client:
        settings = client.patch(f"/agents/{segment(name)}/settings", body)
    if as_json:
        print_json(settings)
    else:
        _print_settings(settings)
