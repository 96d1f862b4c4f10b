"""The `local` provider: the node of `corral up`, a node daemon process beside the control plane.

Its machine is the control plane's own, so there is nothing to make or delete at a provider;
what it does is supervise the daemon process (`supervise_local_node`, started by `corral up`).
It links over 127.0.0.1 through the same node link as any remote node; there is no in-process
shortcut, so what works locally works on every node. It dials the address the control plane
listens on (`Settings.local_url`), never its public URL: that may be a reverse proxy's, or a
name this machine cannot resolve to itself. The supervisor makes the `local` node and
its join token when needed, restarts the agent if it dies (with a capped backoff), and stops it
when the control plane stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from corral.control.db.models import Node
from corral.control.providers.base import Machine, MachineRequest, Progress, Provider
from corral.control.services import auth, nodes
from corral.control.state import AppState
from corral.errors import InvalidInput
from corral.netenv import is_loopback_host, network_variables
from corral.protocol.frames import NODE_IDENTITY_FILE_NAME
from corral.settings import ProvidersSettings
from corral.states import NodeState

__all__ = ["LOCAL_NODE_NAME", "LocalProvider", "supervise_local_node"]

log = logging.getLogger("corral.providers.local")

LOCAL_NODE_NAME = "local"
RESTART_MIN_SECONDS = 1.0
RESTART_MAX_SECONDS = 30.0
STOP_GRACE_SECONDS = 10.0
HEALTHY_RUN_SECONDS = 60.0
_PASSED_ENV = {"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TMPDIR", "TZ"}


async def _join_token_if_needed(state: AppState, node_dir: Path) -> str | None:
    """A join token when the local node must (re)join; None when its identity still holds."""
    async with state.db() as db:
        node = await db.scalar(select(Node).where(Node.name == LOCAL_NODE_NAME))
        usable = node is not None and node.state not in (NodeState.DELETING, NodeState.DELETED)
        if (
            usable
            and node is not None
            and node.credential_hash
            and (node_dir / NODE_IDENTITY_FILE_NAME).exists()
        ):
            return None
        ttl = state.settings.nodes.join_token_ttl_seconds
        if node is None or not usable:
            owner = await auth.get_owner(db)
            _, token = await nodes.create_node(
                db, owner, LOCAL_NODE_NAME, provider="local", ttl_seconds=ttl
            )
            return token
        return await nodes.new_join_token(db, node, ttl_seconds=ttl)


def _child_env(state: AppState, token: str | None) -> dict[str, str]:
    """The agent's environment: not the control plane's, which may hold CORRAL_SECRET_KEY or
    a database password, and never the join token on the command line (others can read argv).
    It does get the network variables (proxies, trust stores, npm_config_*: corral.netenv):
    without them npm and git in the node cannot get out behind a company's proxy. The control
    plane's data directory is hidden from the node's workspaces."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key in _PASSED_ENV or key.startswith("CORRAL_NODE_")
    }
    # As they are: the node checks them, and says in `corral node show` what it left out.
    extra = state.settings.network_variables
    env.update(network_variables(extra=extra))
    if extra:
        env["CORRAL_NODE_NETWORK_VARIABLES"] = json.dumps(extra)
    settings = json.loads(env.get("CORRAL_NODE_RUNTIME_SETTINGS", "{}") or "{}")
    host = settings.get("host", {}) if isinstance(settings, dict) else None
    if isinstance(host, dict):  # else the node says what is wrong with its settings
        hidden = [*host.get("also_hidden_paths", []), str(state.settings.data_dir.resolve())]
        settings["host"] = {**host, "also_hidden_paths": hidden}
        env["CORRAL_NODE_RUNTIME_SETTINGS"] = json.dumps(settings)
    if state.settings.tls_certfile is not None:
        # The control plane serves HTTPS itself, at 127.0.0.1 too, with a certificate that
        # likely names only its public host: the node trusts that very certificate for the
        # link, rather than the trust store and a name the URL does not hold.
        env["CORRAL_NODE_CONTROL_CERTIFICATE"] = str(state.settings.tls_certfile.resolve())
        env["CORRAL_NODE_PIN_CONTROL_CERTIFICATE"] = "true"
    if token is not None:
        env["CORRAL_NODE_JOIN_TOKEN"] = token
    return env


def _control_url_args(state: AppState) -> list[str]:
    """The local node's control URL, with `--insecure` when it is http to an address that is
    not loopback: the one the control plane listens on is this machine's own, so the link
    never leaves it, but the node cannot tell that from the URL."""
    url = state.settings.local_url
    args = ["--control-url", url]
    if url.startswith("http://") and not is_loopback_host(urlsplit(url).hostname or ""):
        args.append("--insecure")
    return args


async def _run_once(state: AppState, node_dir: Path) -> int:
    token = await _join_token_if_needed(state, node_dir)
    if token is not None:
        (node_dir / NODE_IDENTITY_FILE_NAME).unlink(missing_ok=True)
    args = [
        sys.executable,
        "-m",
        "corral.node",
        "run",
        "--data-dir",
        str(node_dir),
        *_control_url_args(state),
        # It ends with this process however this process ends (kill -9 included), and a
        # restarted `corral up` takes over from an agent a crash left behind.
        "--parent-pid",
        str(os.getpid()),
        "--replace",
    ]
    process = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, env=_child_env(state, token)
    )
    log.info("started the local node daemon", extra={"pid": process.pid})
    try:
        return await process.wait()
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(process.wait()), STOP_GRACE_SECONDS)
            except TimeoutError:
                process.kill()
                await process.wait()


async def supervise_local_node(state: AppState) -> None:
    """Keep a local node daemon running until cancelled."""
    node_dir = state.settings.data_dir / "node"
    node_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    delay = RESTART_MIN_SECONDS
    while True:
        started = time.monotonic()
        try:
            code = await _run_once(state, node_dir)
            log.warning("the local node daemon exited with %s; restarting in %.0f s", code, delay)
        except Exception:
            log.exception("could not run the local node daemon; trying again in %.0f s", delay)
        if time.monotonic() - started > HEALTHY_RUN_SECONDS:
            delay = RESTART_MIN_SECONDS
        await asyncio.sleep(delay)
        delay = min(delay * 2, RESTART_MAX_SECONDS)


class LocalProvider(Provider):
    """The node beside the control plane. `corral up` makes it and its supervisor runs it, so
    nobody asks this provider for a machine, and removing the node stops nothing here."""

    name = "local"
    kind = "local"

    @classmethod
    def open(cls, settings: ProvidersSettings, secret: str | None) -> LocalProvider:
        return cls()

    async def create_machine(self, request: MachineRequest, progress: Progress) -> Machine:
        raise InvalidInput("the local node is run by `corral up` itself", reason="local_node")

    async def delete_machine(self, node_id: str, handle: Mapping[str, Any]) -> None:
        return None
