"""Commands that run on the control plane's machine: `up`, `serve`, `db`, `auth`, `secrets`.

The control plane is imported inside each command, not at the top, so that client commands
(`corral project list`) start without loading FastAPI and SQLAlchemy.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tomllib
import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from corral.cli.output import CliError, console, err_console
from corral.logs import configure_logging
from corral.settings import Settings, load_settings, settings_problems

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: CORRAL_DATA_DIR or the platform's)."),
]
Host = Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")]
Port = Annotated[
    int | None, typer.Option(help="Port to listen on (default 8420; 0 picks a free one).")
]

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
auth_app = typer.Typer(help="Sign-in links for the owner.", no_args_is_help=True)
secrets_app = typer.Typer(help="The key that encrypts stored credentials.", no_args_is_help=True)


def settings_from(data_dir: Path | None, **overrides: object) -> Settings:
    try:
        return load_settings(data_dir, **{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        raise CliError(f"invalid settings: {'; '.join(settings_problems(exc))}") from None
    except tomllib.TOMLDecodeError as exc:
        raise CliError(f"invalid corral.toml: {exc}") from None


def _print_link(link: str, settings: Settings) -> None:
    minutes = settings.auth.login_link_ttl_seconds // 60
    console.print(f"\nCorral is running at {settings.effective_public_url}")
    console.print(f"Sign in (single use, valid {minutes} min):")
    print(link, flush=True)
    console.print("Make another any time with `corral auth link`. Stop with Ctrl-C.\n")


def _has_graphical_browser() -> bool:
    # Without a display, `webbrowser` falls back to console browsers (lynx, w3m) that would take
    # over the terminal Corral is printing to; on a server the printed link is enough.
    return sys.platform == "darwin" or bool(
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    )


def up(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Do not open a browser.")
    ] = False,
) -> None:
    """Run Corral on this machine with its embedded defaults and print a login link."""
    from corral.control import admin

    settings = settings_from(data_dir, host=host, port=port)
    configure_logging(settings.log_level, settings.log_format)

    def open_browser(link: str) -> None:
        webbrowser.open(link)

    browser = None if no_browser or not _has_graphical_browser() else open_browser
    admin.run(
        settings,
        announce=_print_link,
        every_start=True,
        open_browser=browser,
        local_node=True,
    )


def serve_command(
    data_dir: DataDir = None,
    host: Host = None,
    port: Port = None,
    certfile: Annotated[
        Path | None,
        typer.Option(
            help="Serve HTTPS with this PEM certificate (chain, leaf first; default: "
            "CORRAL_TLS_CERTFILE). Behind a reverse proxy that holds the certificate, leave "
            "it out."
        ),
    ] = None,
    keyfile: Annotated[
        Path | None,
        typer.Option(help="The certificate's unencrypted PEM key (default: CORRAL_TLS_KEYFILE)."),
    ] = None,
) -> None:
    """Run the control plane only (for servers); prints a login link on first start."""
    from corral.control import admin

    settings = settings_from(
        data_dir, host=host, port=port, tls_certfile=certfile, tls_keyfile=keyfile
    )
    configure_logging(settings.log_level, settings.log_format)
    admin.run(settings, announce=_print_link, every_start=False)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply database migrations (the control plane also does this at start-up)."""
    from corral.control import admin

    asyncio.run(admin.upgrade_database(settings_from(data_dir)))
    console.print("The database is up to date.")


@auth_app.command("link")
def auth_link(data_dir: DataDir = None) -> None:
    """Print a fresh one-time login link for the owner."""
    from corral.control import admin

    link, running = asyncio.run(admin.new_owner_link(settings_from(data_dir)))
    print(link)
    if not running:
        err_console.print(
            "Corral is not running on this data directory; start it with `corral up`."
        )


@secrets_app.command("rotate-key")
def rotate_key(data_dir: DataDir = None) -> None:
    """Re-encrypt every stored credential under a new key (stop Corral first)."""
    from corral.control import admin

    count, key_file = asyncio.run(admin.rotate_secret_key(settings_from(data_dir), _read_new_key))
    if key_file is None:
        console.print(
            f"Re-encrypted {count} credential(s). Set CORRAL_SECRET_KEY to the new key "
            "before starting Corral again."
        )
    else:
        console.print(f"Re-encrypted {count} credential(s) under a new key in {key_file}.")


def _read_new_key() -> str:
    if sys.stdin.isatty():
        return str(typer.prompt("New key (base64 of 32 bytes)", hide_input=True))
    return sys.stdin.readline()
