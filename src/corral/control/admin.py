"""Operations on a control plane's own data directory, run on its machine.

These back `corral up`, `serve`, `db upgrade`, `auth link` and `secrets rotate-key`. They are
apart from the CLI so the CLI stays quick to start (the control plane's imports are heavy) and so
nothing about keys and databases lives in command-line code.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path

from corral.control.app import create_state
from corral.control.bootstrap import Prepared, prepare
from corral.control.datadir import data_dir_lock, prepare_data_dir, read_running_server
from corral.control.db.engine import reporting_database_errors
from corral.control.db.migrate import startup_lock, upgrade
from corral.control.providers.local import supervise_local_node
from corral.control.secretbox import (
    KEY_BYTES,
    KEY_FILE_NAME,
    NEXT_KEY_FILE_NAME,
    SecretBox,
    load_secret_box,
    parse_key,
    write_key_file,
)
from corral.control.server import serve
from corral.control.services import auth, credentials
from corral.control.state import AppState
from corral.control.urls import login_url
from corral.gcpolicy import settle_heap
from corral.settings import Settings

__all__ = ["new_owner_link", "rotate_secret_key", "run", "upgrade_database"]


async def _owner_link(state: AppState, prepared: Prepared, base_url: str | None = None) -> str:
    async with state.db() as db:
        token = await auth.create_login_link(
            db, prepared.owner, ttl_seconds=state.settings.auth.login_link_ttl_seconds
        )
    return login_url(state.settings, token, base_url=base_url)


def run(
    settings: Settings,
    *,
    announce: Callable[[str, Settings], None],
    every_start: bool,
    open_browser: Callable[[str], None] | None = None,
    local_node: bool = False,
) -> None:
    """Serve until stopped, passing a fresh owner login link to `announce` once ready: on every
    start (`corral up`, on the user's own machine) or only when the owner was just made. It gets
    the settings served too, whose port is the real one when `settings.port` was 0.

    The browser gets a link of its own: opening it uses it up, and the printed one must still
    work for `corral login`.
    """

    async def on_ready(state: AppState, prepared: Prepared) -> None:
        if local_node:
            state.background.append(
                asyncio.create_task(supervise_local_node(state), name="local-node")
            )
        if every_start or prepared.owner_created:
            announce(await _owner_link(state, prepared), state.settings)
            if open_browser is not None:
                open_browser(await _owner_link(state, prepared))
        settle_heap()  # this process is the server from here on

    serve(settings, on_ready=on_ready)


async def upgrade_database(settings: Settings) -> None:
    prepare_data_dir(settings.data_dir)
    state = create_state(settings)
    try:
        with reporting_database_errors(settings.effective_database_url):
            async with startup_lock(state.engine):  # not while a replica starting migrates
                await upgrade(state.engine)
    finally:
        await state.engine.dispose()


async def new_owner_link(settings: Settings) -> tuple[str, bool]:
    """A fresh owner login link, with the running server's URL when one runs; the bool says
    whether a server is running on this data directory."""
    prepare_data_dir(settings.data_dir)
    running = read_running_server(settings.data_dir)
    state = create_state(settings)
    try:
        link = await _owner_link(state, await prepare(state), running.url if running else None)
    finally:
        await state.engine.dispose()
    return link, running is not None


async def rotate_secret_key(
    settings: Settings, read_new_key: Callable[[], str]
) -> tuple[int, Path | None]:
    """Re-encrypt every credential under a new key; return how many, and the key file if any.

    With a key file, the new key is generated, written to `secret.key.next`, and renamed over
    `secret.key` once the database commit is done; a rotation cut short is finished with the same
    new key by running it again. With `CORRAL_SECRET_KEY`, `read_new_key` supplies the new key and
    the user updates the variable.
    """
    with data_dir_lock(settings.data_dir, "rotating the key"):
        return await _rotate(settings, read_new_key)


async def _rotate(settings: Settings, read_new_key: Callable[[], str]) -> tuple[int, Path | None]:
    old_box = load_secret_box(settings)
    next_path = settings.data_dir / NEXT_KEY_FILE_NAME
    if settings.secret_key is not None:
        new_key = parse_key(read_new_key())
    else:
        new_key = parse_key(next_path.read_text()) if next_path.exists() else os.urandom(KEY_BYTES)
        write_key_file(next_path, new_key)
    state = create_state(settings)
    try:
        await upgrade(state.engine)
        async with state.db() as db:
            count = await credentials.rotate_key(db, old_box, SecretBox(new_key))
    finally:
        await state.engine.dispose()
    if settings.secret_key is not None:
        return count, None
    key_file = settings.data_dir / KEY_FILE_NAME
    next_path.replace(key_file)
    return count, key_file
