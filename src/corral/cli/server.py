"""Commands that run on the control plane's machine: `up`, `serve`, `db`, `auth`, `secrets`."""

from __future__ import annotations

import asyncio
import os
import sys
import webbrowser
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from corral.cli.output import CliError, console, err_console
from corral.control.app import create_state
from corral.control.bootstrap import Prepared, prepare
from corral.control.db.migrate import upgrade
from corral.control.secretbox import (
    KEY_BYTES,
    KEY_FILE_NAME,
    NEXT_KEY_FILE_NAME,
    SecretBox,
    load_secret_box,
    parse_key,
    write_key_file,
)
from corral.control.server import read_running_server, serve
from corral.control.services import auth, credentials
from corral.control.state import AppState
from corral.control.urls import login_url
from corral.logs import configure_logging
from corral.settings import Settings, load_settings

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory (default: CORRAL_DATA_DIR or the platform's)."),
]
Host = Annotated[str | None, typer.Option(help="Address to listen on (default 127.0.0.1).")]
Port = Annotated[int | None, typer.Option(help="Port to listen on (default 8420).")]

db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
auth_app = typer.Typer(help="Sign-in links for the owner.", no_args_is_help=True)
secrets_app = typer.Typer(help="The key that encrypts stored credentials.", no_args_is_help=True)


def settings_from(data_dir: Path | None, **overrides: object) -> Settings:
    try:
        return load_settings(data_dir, **{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise CliError(f"invalid settings: {problems}") from None


async def _new_login_link(state: AppState, prepared: Prepared) -> str:
    async with state.sessions() as db:
        token = await auth.create_login_link(
            db, prepared.owner, ttl_seconds=state.settings.auth.login_link_ttl_seconds
        )
    return login_url(state.settings, token)


def _announce_link(link: str, settings: Settings) -> None:
    minutes = settings.auth.login_link_ttl_seconds // 60
    console.print(f"\n[bold]Corral[/bold] is running at {settings.effective_public_url}")
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
    settings = settings_from(data_dir, host=host, port=port)
    configure_logging(settings.log_level, settings.log_format)

    async def on_ready(state: AppState, prepared: Prepared) -> None:
        link = await _new_login_link(state, prepared)
        _announce_link(link, settings)
        if not no_browser and _has_graphical_browser():
            webbrowser.open(link)

    serve(settings, on_ready=on_ready)


def serve_command(data_dir: DataDir = None, host: Host = None, port: Port = None) -> None:
    """Run the control plane only (for servers); prints a login link on first start."""
    settings = settings_from(data_dir, host=host, port=port)
    configure_logging(settings.log_level, settings.log_format)

    async def on_ready(state: AppState, prepared: Prepared) -> None:
        if prepared.owner_created:
            _announce_link(await _new_login_link(state, prepared), settings)

    serve(settings, on_ready=on_ready)


@db_app.command("upgrade")
def db_upgrade(data_dir: DataDir = None) -> None:
    """Apply database migrations (the control plane also does this at start-up)."""
    settings = settings_from(data_dir)

    async def run() -> None:
        state = create_state(settings)
        try:
            await upgrade(state.engine)
        finally:
            await state.engine.dispose()

    asyncio.run(run())
    console.print("The database is up to date.")


@auth_app.command("link")
def auth_link(data_dir: DataDir = None) -> None:
    """Print a fresh one-time login link for the owner."""
    settings = settings_from(data_dir)
    running = read_running_server(settings.data_dir)

    async def run() -> str:
        state = create_state(settings)
        try:
            prepared = await prepare(state)
            async with state.sessions() as db:
                token = await auth.create_login_link(
                    db, prepared.owner, ttl_seconds=settings.auth.login_link_ttl_seconds
                )
        finally:
            await state.engine.dispose()
        return login_url(settings, token, base_url=running.url if running else None)

    link = asyncio.run(run())
    print(link)
    if running is None:
        err_console.print(
            "Corral is not running on this data directory; start it with `corral up`."
        )


@secrets_app.command("rotate-key")
def rotate_key(data_dir: DataDir = None) -> None:
    """Re-encrypt every stored credential under a new key."""
    settings = settings_from(data_dir)
    running = read_running_server(settings.data_dir)
    if running is not None:
        raise CliError(
            f"Corral is running (pid {running.pid}); stop it before rotating the key, "
            "so it does not keep encrypting with the old one"
        )
    old_box = load_secret_box(settings)
    if settings.secret_key is not None:
        new_key = _read_new_key()
        new_box = SecretBox(new_key)
        asyncio.run(_reencrypt(settings, old_box, new_box))
        console.print(
            "Credentials re-encrypted. Set CORRAL_SECRET_KEY to the new key before "
            "starting Corral again."
        )
        return
    next_path = settings.data_dir / NEXT_KEY_FILE_NAME
    # A rotation cut short left its new key behind: finish with that key, not a third one.
    new_key = parse_key(next_path.read_text()) if next_path.exists() else os.urandom(KEY_BYTES)
    write_key_file(next_path, new_key)
    count = asyncio.run(_reencrypt(settings, old_box, SecretBox(new_key)))
    next_path.replace(settings.data_dir / KEY_FILE_NAME)
    console.print(
        f"Re-encrypted {count} credential(s) under a new key in "
        f"{settings.data_dir / KEY_FILE_NAME}."
    )


def _read_new_key() -> bytes:
    if sys.stdin.isatty():
        text = str(typer.prompt("New key (base64 of 32 bytes)", hide_input=True))
    else:
        text = sys.stdin.readline()
    return parse_key(text)


async def _reencrypt(settings: Settings, old: SecretBox, new: SecretBox) -> int:
    state = create_state(settings)
    try:
        await upgrade(state.engine)
        async with state.sessions() as db:
            return await credentials.rotate_key(db, old, new)
    finally:
        await state.engine.dispose()
