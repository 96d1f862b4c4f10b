"""`corral agent`: the agent catalog, your own ACP agents, and how agents are run."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any

import typer

from corral.cli.account import JsonFlag
from corral.cli.client import open_client, segment
from corral.cli.output import CliError, console, print_json, print_table
from corral.cli.projects import UnsetEnvOption, env_patch, parse_pairs

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


def _entry_of_file(path: Path, name: str | None) -> tuple[str, dict[str, Any]]:
    """The one entry of a TOML file in builtin.toml's format (`[NAME]` and its fields)."""
    try:
        tables = tomllib.loads(path.read_text())
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{path} is not valid TOML: {exc}") from None
    if len(tables) != 1 or not isinstance(entry := next(iter(tables.values())), dict):
        raise CliError(
            f"{path} must hold exactly one entry, a table such as [my-agent] with its fields "
            f"(as in Corral's builtin.toml); it holds {len(tables)} top-level keys"
        )
    found = next(iter(tables))
    if name is not None and name != found:
        raise CliError(f"{path} holds the entry [{found}], not [{name}]: leave NAME out")
    return found, entry


def _package(value: str) -> tuple[str, str]:
    """NAME@VERSION, the way npm writes it (a scoped name starts with its own @)."""
    package, at, version = value.rpartition("@")
    if not at or not package or not version:
        raise CliError(
            f"--package takes NAME@VERSION with an exact version, e.g. "
            f"@qwen-code/qwen-code@0.24.4, not {value!r}"
        )
    return package, version


@app.command("add", context_settings={"allow_extra_args": True})
def add(
    ctx: typer.Context,
    name: Annotated[
        str | None, typer.Argument(help="A name for the agent (with --file, the entry's).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="A TOML file holding one entry in the built-in catalog's format."
        ),
    ] = None,
    package: Annotated[
        str | None,
        typer.Option(
            help="NAME@VERSION: an npm package the node installs into its agent cache; the "
            "command's program is then one of its bins."
        ),
    ] = None,
    title: Annotated[str | None, typer.Option(help="A name for people.")] = None,
    credential: Annotated[
        list[str] | None,
        typer.Option(
            "--credential", help="KIND=VARIABLE: the variable a credential of KIND goes in."
        ),
    ] = None,
    endpoint_env: Annotated[
        list[str] | None,
        typer.Option("--endpoint-env", help="A variable set to the endpoint's URL."),
    ] = None,
    endpoint_arg: Annotated[
        list[str] | None,
        typer.Option(
            "--endpoint-arg", help="An argument added for an endpoint; {endpoint} is its URL."
        ),
    ] = None,
    default_endpoint: Annotated[
        str | None, typer.Option(help="The endpoint when none is configured.")
    ] = None,
    initial_mode: Annotated[
        str | None, typer.Option(help="The ACP session mode to start in.")
    ] = None,
    auth_method: Annotated[
        str | None, typer.Option(help="The ACP authenticate method to call.")
    ] = None,
    sandboxed_arg: Annotated[
        list[str] | None,
        typer.Option("--sandboxed-arg", help="An argument added inside Corral's sandbox."),
    ] = None,
    quirk: Annotated[
        list[str] | None, typer.Option("--quirk", help="A deviation to work around.")
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace your agent of that name (settings stay).")
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """Add your own ACP agent: `corral agent add NAME [OPTIONS] -- COMMAND ARGS...`, or
    `corral agent add --file agent.toml`. Its program must be where the workspace sandbox shows
    it: a bin of --package (installed by the node), or a system path such as /usr/bin."""
    command = list(ctx.args)
    fields: dict[str, Any] = {
        "title": title,
        "credentials": parse_pairs(credential, "--credential") or None,
        "endpoint_env": endpoint_env,
        "endpoint_args": endpoint_arg,
        "default_endpoint": default_endpoint,
        "initial_mode": initial_mode,
        "auth_method": auth_method,
        "sandboxed_args": sandboxed_arg,
        "quirks": quirk,
    }
    if package is not None:
        fields["package"], fields["version"] = _package(package)
    given = {key: value for key, value in fields.items() if value is not None}
    if file is not None:
        if given or command:
            raise CliError("with --file, the whole entry comes from the file: give no command")
        name, entry = _entry_of_file(file, name)
    elif name is None:
        raise CliError("give the agent a name: `corral agent add NAME -- COMMAND ARGS...`")
    elif not command:
        raise CliError(
            "give the agent's command after --, e.g. `corral agent add mine -- my-agent --acp`"
        )
    else:
        entry = {"command": command, **given}
    with open_client() as client:
        if replace:
            agent = client.put(f"/agents/{segment(name)}", entry)
        else:
            agent = client.post("/agents", {"name": name, **entry})
    if as_json:
        print_json(agent)
    else:
        console.print(f"{'replaced' if replace else 'added'} {agent['name']}: {_summary(agent)}")


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


def _summary(agent: dict[str, Any]) -> str:
    package = f"{agent['package']}@{agent['version']}, " if agent["package"] else ""
    return f"{package}runs {' '.join(agent['command'])}"


def _print_agent(agent: dict[str, Any]) -> None:
    console.print(f"{agent['title']} ({agent['name']}): {_summary(agent)}")
    origin = "built in" if agent["builtin"] else "yours"
    where = "installed by the node" if agent["package"] else "a program on the node"
    console.print(f"  {origin}, {where}")
    for kind, variable in sorted(agent["credentials"].items()):
        console.print(f"  credential  {kind} in {variable}")
    if agent["endpoint_env"]:
        console.print(f"  endpoint    in {', '.join(agent['endpoint_env'])}")
    if agent["endpoint_args"]:
        console.print(f"  endpoint    as {' '.join(agent['endpoint_args'])}")
    if not agent["endpoint"]:
        console.print("  endpoint    none (it names no variable or argument for one)")
    if agent["default_endpoint"]:
        console.print(f"  default     {agent['default_endpoint']}")
    for label, key in (("mode", "initial_mode"), ("auth", "auth_method")):
        if agent[key]:
            console.print(f"  {label:<11} {agent[key]}")
    if agent["sandboxed_args"]:
        console.print(f"  sandboxed   {' '.join(agent['sandboxed_args'])}")
    if agent["quirks"]:
        console.print(f"  quirks      {', '.join(agent['quirks'])}")


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Agent name.")],
    project: Annotated[str | None, typer.Option(help="With this project's settings.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show an agent's catalog entry and the settings its sessions get."""
    with open_client() as client:
        agent = client.get(f"/agents/{segment(name)}")
        settings = client.get(f"/agents/{segment(name)}/settings", project=project)
    if as_json:
        print_json({"agent": agent, "settings": settings})
        return
    _print_agent(agent)
    _print_settings(settings)


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
    unset_env: UnsetEnvOption = None,
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
        "env": env_patch(env, unset_env),
        "args": arg,
        "clear": clear or [],
    }
    with open_client() as client:
        settings = client.patch(f"/agents/{segment(name)}/settings", body)
    if as_json:
        print_json(settings)
    else:
        _print_settings(settings)
