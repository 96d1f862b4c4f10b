"""The `corral` command: runs the control plane and is a client for everything the API does."""

from __future__ import annotations

import sys

import typer

from corral import __version__
from corral.cli import account, activity, credentials, projects, server, tokens, users
from corral.cli.output import CliError, err_console
from corral.errors import CorralError

__all__ = ["app", "main"]

app = typer.Typer(
    name="corral",
    help="Run AI coding agents in isolated workspaces on machines you own.",
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


def main() -> None:
    """Run the CLI; our errors become one line on stderr and a non-zero exit, never a traceback."""
    try:
        app(standalone_mode=False)
    except CliError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        sys.exit(exc.exit_code)
    except CorralError as exc:
        err_console.print(f"[red]error:[/red] {exc.message}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.Abort:
        err_console.print("Aborted.")
        sys.exit(1)
    except Exception as exc:  # click usage errors and the like
        import click

        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        raise
