"""The `corral` command: runs the control plane and is a client for everything the API does."""

from __future__ import annotations

import sys

import click
import typer

from corral import __version__
from corral.cli import (
    account,
    activity,
    agents,
    credentials,
    nodes,
    projects,
    providers,
    server,
    sessions,
    tokens,
    users,
    workspaces,
)
from corral.cli.output import CliError, print_error
from corral.errors import CorralError
from corral.settings import ClientSettings

__all__ = ["app", "main"]

app = typer.Typer(
    name="corral",
    help="Run AI coding agents in sandboxed workspaces on machines you own.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"corral {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    pass


app.command("up")(server.up)
app.command("serve")(server.serve_command)
app.command("login")(account.login)
app.command("logout")(account.logout)
app.command("whoami")(account.whoami)
app.command("activity")(activity.activity)
app.add_typer(server.db_app, name="db")
app.add_typer(server.auth_app, name="auth")
app.add_typer(server.secrets_app, name="secrets")
app.add_typer(users.app, name="users")
app.add_typer(tokens.app, name="tokens")
app.add_typer(credentials.app, name="credentials")
app.add_typer(projects.app, name="project")
app.add_typer(nodes.app, name="node")
app.add_typer(providers.app, name="provider")
app.add_typer(workspaces.app, name="workspace")
app.add_typer(agents.app, name="agent")
app.add_typer(sessions.app, name="session")
app.add_typer(sessions.permissions_app, name="permissions")


def main() -> None:
    """Run the CLI; every failure becomes one line on stderr and a non-zero exit.

    A traceback is printed only for failures we did not foresee, and only when CORRAL_DEBUG is
    set; otherwise the line names the kind of failure to report.
    """
    try:
        # Without standalone mode, click returns the code of a `typer.Exit` instead of exiting.
        code = app(standalone_mode=False)
        if isinstance(code, int) and code:
            sys.exit(code)
    except (CliError, CorralError) as exc:
        print_error(exc.message)
        sys.exit(getattr(exc, "exit_code", 1))
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.Abort:
        print_error("aborted")
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:
        # typer's own copy of click, which `click.ClickException` does not catch: a usage error
        # (a missing option, an unknown one, a bad value).
        print_error(_usage_error(exc))
        sys.exit(getattr(exc, "exit_code", 2))
    except OSError as exc:
        where = f": {exc.filename}" if exc.filename else ""
        print_error(f"{exc.strerror or exc}{where}")
        sys.exit(1)
    except Exception as exc:
        if _debug():
            raise
        print_error(
            f"unexpected failure ({type(exc).__name__}: {exc}); set CORRAL_DEBUG=1 "
            "for the traceback"
        )
        sys.exit(1)


def _debug() -> bool:
    try:
        return ClientSettings().debug
    except Exception:
        return False


def _usage_error(exc: Exception) -> str:
    """A usage error as one line, naming the help that shows the command's usage."""
    format_message = getattr(exc, "format_message", None)
    message = (format_message() if callable(format_message) else str(exc)).rstrip(".")
    command_path = getattr(getattr(exc, "ctx", None), "command_path", None)
    return f"{message}; see `{command_path} --help`" if command_path else message
