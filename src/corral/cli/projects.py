"""`corral project`: git repositories that workspaces are made from."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from corral.cli.account import JsonFlag
from corral.cli.client import open_client, segment
from corral.cli.idle import ProjectIdleTimeout, parse_idle_timeout
from corral.cli.limits import (
    CpusOption,
    MemoryOption,
    PidsOption,
    RuntimeOption,
    describe_limits,
    limit_fields,
)
from corral.cli.output import CliError, console, print_json, print_table, when

app = typer.Typer(
    help="Projects: git repositories that workspaces are made from.", no_args_is_help=True
)

EnvOption = Annotated[
    list[str] | None,
    typer.Option("--env", help="KEY=VALUE set in the project's workspaces; repeat for more."),
]


UnsetEnvOption = Annotated[
    list[str] | None,
    typer.Option("--unset-env", help="Remove an environment variable; repeat for more."),
]


def parse_pairs(pairs: list[str] | None, option: str) -> dict[str, str]:
    """`KEY=VALUE` options as a mapping (a repeated key keeps its last value)."""
    parsed: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise CliError(f"{option} takes KEY=VALUE, got {pair!r}")
        parsed[key] = value
    return parsed


def parse_env(pairs: list[str] | None) -> dict[str, str]:
    return parse_pairs(pairs, "--env")


def env_patch(pairs: list[str] | None, unset: list[str] | None) -> dict[str, str | None] | None:
    """`--env K=V` and `--unset-env K` as the API's merge patch of the variables (null
    removes one); None when neither was given, so the variables stay as they are."""
    patch: dict[str, str | None] = dict(parse_env(pairs))
    both = sorted(set(patch) & set(unset or []))
    if both:
        raise CliError(f"{', '.join(both)}: given to both --env and --unset-env")
    patch.update(dict.fromkeys(unset or []))
    return patch or None


_ACCESS = {
    "github_app": "the GitHub App",
    "credential": "your credential",
    "anonymous": "no credential",
}


def _show(project: dict[str, Any], pulls: list[dict[str, Any]] | None = None) -> None:
    console.print(f"{project['name']}  {project['id']}")
    console.print(f"  repository:     {project['repo']}")
    if project.get("github_repo"):
        console.print(f"  on GitHub:      {project['github_repo']}")
    access = project.get("git_access", "anonymous")
    console.print(f"  reached with:   {_ACCESS.get(access, access)}")
    console.print(f"  default branch: {project['default_branch']}")
    console.print(f"  runtime:        {project['runtime']}")
    console.print(f"  limits:         {describe_limits(project)}")
    console.print(f"  created:        {when(project['created_at'])}")
    console.print(f"  idle timeout:   {_idle_timeout(project.get('idle_timeout_minutes'))}")
    for key, value in sorted(project["env"].items()):
        console.print(f"  env {key}={value}")
    for pull in pulls or []:
        checks = f", checks {pull['checks']}" if pull.get("checks") else ""
        console.print(f"  pull request {pull['url']}  {pull['state']}{checks}  ({pull['title']})")


def _idle_timeout(minutes: int | None) -> str:
    if minutes is None:
        return "the control plane's default"
    return "never" if minutes == 0 else f"{minutes} min"


@app.command("add")
def add_project(
    name: Annotated[str, typer.Argument(help="Short name, e.g. `demo`.")],
    repo: Annotated[
        str | None,
        typer.Option(help="Git URL or absolute local path (or give --github)."),
    ] = None,
    github: Annotated[
        str | None,
        typer.Option(
            help="A GitHub repository, OWNER/REPO: cloned and pushed through the GitHub App "
            "you installed on it, or with --credential."
        ),
    ] = None,
    credential: Annotated[
        str | None,
        typer.Option(
            help="Your credential for a private repository without the App: a `github` one "
            "(a fine-grained personal access token) for an https:// remote, or an `ssh-key` "
            "for a git@host:path or ssh:// remote (its host key is pinned now; pushing over "
            "SSH is not supported yet)."
        ),
    ] = None,
    branch: Annotated[
        str | None, typer.Option(help="Default branch (default: the repository's own).")
    ] = None,
    env: EnvOption = None,
    runtime: RuntimeOption = None,
    cpus: CpusOption = None,
    memory: MemoryOption = None,
    pids: PidsOption = None,
    idle_timeout: ProjectIdleTimeout = None,
    as_json: JsonFlag = False,
) -> None:
    """Add a project after checking the repository answers and has the branch."""
    if repo is None and github is None:
        raise typer.BadParameter("give --repo URL or --github OWNER/REPO")
    body: dict[str, Any] = {
        "name": name,
        "repo": repo,
        "github": github,
        "credential": credential,
        "default_branch": branch,
        "env": parse_env(env),
        "runtime": runtime,
        **limit_fields(cpus, memory, pids),
    }
    if idle_timeout is not None:
        body["idle_timeout_minutes"] = parse_idle_timeout(idle_timeout)
    with console.status(f"Checking {repo or github} …"), open_client() as client:
        project = client.post("/projects", body)
    if as_json:
        print_json(project)
        return
    console.print(f"Added project {project['name']} (branch {project['default_branch']}).")


@app.command("list")
def list_projects(as_json: JsonFlag = False) -> None:
    """List your projects."""
    with open_client() as client:
        projects = client.get_all("/projects")
    if as_json:
        print_json(projects)
        return
    print_table(
        projects,
        [
            ("NAME", lambda p: p["name"]),
            ("BRANCH", lambda p: p["default_branch"]),
            ("REPOSITORY", lambda p: p["repo"]),
            ("CREATED", lambda p: when(p["created_at"])),
        ],
        empty="No projects. Add one with `corral project add NAME --repo URL`.",
    )


@app.command("show")
def show_project(
    project: Annotated[str, typer.Argument(help="Name or id.")], as_json: JsonFlag = False
) -> None:
    """Show one project."""
    with open_client() as client:
        found = client.get(f"/projects/{segment(project)}")
        pulls = client.get(f"/projects/{segment(project)}/pull-requests")["items"]
    if as_json:
        print_json({**found, "pull_requests": pulls})
        return
    _show(found, pulls)


@app.command("set")
def update_project(
    project: Annotated[str, typer.Argument(help="Name or id.")],
    name: Annotated[str | None, typer.Option(help="New name.")] = None,
    branch: Annotated[str | None, typer.Option(help="New default branch.")] = None,
    env: EnvOption = None,
    unset_env: UnsetEnvOption = None,
    runtime: RuntimeOption = None,
    cpus: CpusOption = None,
    memory: MemoryOption = None,
    pids: PidsOption = None,
    idle_timeout: ProjectIdleTimeout = None,
    as_json: JsonFlag = False,
) -> None:
    """Change a project's name, default branch, environment variables, runtime, limits or idle
    timeout (the others stay; its existing workspaces keep their runtime and limits)."""
    body: dict[str, Any] = {
        "name": name,
        "default_branch": branch,
        "env": env_patch(env, unset_env),
        "runtime": runtime,
    }
    changes = {k: v for k, v in body.items() if v is not None}
    changes.update(limit_fields(cpus, memory, pids))  # null: back to the node's default
    if idle_timeout is not None:  # `default` sends null: the control plane's default again
        changes["idle_timeout_minutes"] = parse_idle_timeout(idle_timeout)
    with open_client() as client:
        updated = client.patch(f"/projects/{segment(project)}", changes)
    if as_json:
        print_json(updated)
        return
    _show(updated)


@app.command("rm")
def remove_project(project: Annotated[str, typer.Argument(help="Name or id.")]) -> None:
    """Delete a project (its repository is untouched)."""
    with open_client() as client:
        client.delete(f"/projects/{segment(project)}")
    console.print(f"Deleted project {project}.")
