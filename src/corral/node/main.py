"""`corral node run`: put a node daemon together from its settings and run it until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import time
from dataclasses import replace
from pathlib import Path

from corral.errors import CorralError
from corral.gcpolicy import settle_heap
from corral.netenv import network_environment
from corral.node.controlurl import control_plane_ssl_context, control_url_problem
from corral.node.daemon import NodeDaemon
from corral.node.health import WorkspaceCapacity
from corral.node.identity import join, load_identity, save_identity
from corral.node.ptyclient import PtyHostClient
from corral.node.runtimes.registry import load_runtimes
from corral.node.sessions import NodeSessions
from corral.node.settings import NodeDaemonSettings
from corral.node.workspaces import NodeWorkspaces
from corral.processes import exit_with_parent

__all__ = ["run_node"]

log = logging.getLogger("corral.node")
# Named before the node daemon was called one; kept, so a daemon of an older version is found.
LOCK_FILE_NAME = "agent.lock"
REPLACE_GRACE_SECONDS = 15.0
"""How long a daemon being replaced may take to stop cleanly before it is killed."""


async def run_node(
    settings: NodeDaemonSettings,
    join_token: str | None,
    *,
    replace_running: bool = False,
    parent_pid: int | None = None,
) -> None:
    """Join if a token is given (or no identity is saved yet), then stay linked until SIGTERM
    or SIGINT; terminals are ended on the way out.

    `replace_running` stops a daemon already running on this data directory (one left behind by a
    supervisor that was killed) instead of refusing to start. With `parent_pid`, the daemon
    stops when that process (its supervisor) exits, however it exits.
    """
    if parent_pid is not None and not exit_with_parent(parent_pid):
        raise CorralError("the process that started this node daemon has exited")
    data_dir = settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # One daemon per data directory: two would fight over the link and the same workspaces.
    lock = os.open(data_dir / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not replace_running:
                raise CorralError(f"another node daemon is running on {data_dir}") from None
            await _stop_holder(lock, data_dir)
        # The holder's PID, so that a replacement can find it.
        os.ftruncate(lock, 0)
        os.pwrite(lock, f"{os.getpid()}\n".encode(), 0)
        await _run(settings, join_token)
    finally:
        os.close(lock)


async def _stop_holder(lock: int, data_dir: Path) -> None:
    """Stop the daemon holding `lock` (SIGTERM, then SIGKILL) and take the lock. Only a process
    that is a node daemon of this data directory is signalled: a PID can be reused."""
    try:
        pid = int(os.pread(lock, 32, 0).split()[0])
    except (ValueError, IndexError):
        pid = 0
    if pid > 0 and _is_node_daemon(pid, data_dir):
        log.warning("stopping the node daemon left running on %s (PID %d)", data_dir, pid)
        for signum, wait_seconds in (
            (signal.SIGTERM, REPLACE_GRACE_SECONDS),
            (signal.SIGKILL, 5.0),
        ):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)
            if await _take_lock(lock, wait_seconds):
                return
    elif await _take_lock(lock, REPLACE_GRACE_SECONDS):
        return
    raise CorralError(f"another node daemon is running on {data_dir} and would not stop")


def _is_node_daemon(pid: int, data_dir: Path) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            argv = file.read().split(b"\0")
    except OSError:
        return False
    # `corral node run` becomes `python -m corral.node run` (see corral.node.__main__).
    node = b"node" in argv or b"corral.node" in argv
    return node and b"run" in argv and os.fsencode(data_dir) in argv


async def _take_lock(lock: int, wait_seconds: float) -> bool:
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.05)


async def _run(settings: NodeDaemonSettings, join_token: str | None) -> None:
    data_dir = settings.data_dir
    network = network_environment(extra=settings.network_variables)
    for problem in network.problems:
        log.warning("network environment: %s", problem)
    log.info("passing on the network variables: %s", ", ".join(network.names) or "none")
    ssl_context = control_plane_ssl_context(
        network, settings.control_certificate, pin=settings.pin_control_certificate
    )
    identity = load_identity(data_dir)
    if join_token is not None:
        if not settings.control_url:
            raise CorralError("joining needs --control-url")
        identity = await join(
            settings.control_url,
            join_token,
            timeout_seconds=settings.request_timeout_seconds,
            ssl_context=ssl_context,
        )
        save_identity(data_dir, identity)
        log.info("joined the control plane as node %s", identity.node_id)
    elif (
        identity is not None
        and settings.control_url
        and (settings.control_url.rstrip("/") != identity.control_url)
    ):
        # The control plane moved (e.g. `corral up --port` changed): follow it.
        identity = replace(identity, control_url=settings.control_url.rstrip("/"))
        save_identity(data_dir, identity)
    if identity is None:
        raise CorralError(
            "this node has not joined yet: run it once with --control-url and "
            "--join-token (from `corral node add NAME`)"
        )
    # A given URL was checked with the settings; a remembered one may predate the check.
    refused = control_url_problem(identity.control_url, insecure=settings.insecure)
    if refused is not None:
        raise CorralError(refused)
    agents_dir = settings.agents_dir or data_dir / "agents"
    runtimes, unavailable = load_runtimes(settings, network=network, agents_dir=agents_dir)
    terminals = PtyHostClient(data_dir, idle_seconds=settings.terminals.pty_host_idle_seconds)
    workspaces = NodeWorkspaces(
        runtimes,
        terminals,
        data_dir / "state",
        progress_interval_seconds=settings.progress_interval_seconds,
        unavailable=unavailable,
    )
    sessions = NodeSessions(
        workspaces,
        data_dir,
        agents_dir=agents_dir,
        settings=settings.sessions,
        network=network,
    )
    daemon = NodeDaemon(
        identity,
        workspaces,
        terminals,
        sessions,
        network=network,
        ssl_context=ssl_context,
        allocatable=WorkspaceCapacity(
            cpus=settings.allocatable_cpus, memory_bytes=settings.allocatable_memory_bytes
        ),
        reconnect_min_seconds=settings.reconnect_min_seconds,
        reconnect_max_seconds=settings.reconnect_max_seconds,
    )
    settle_heap()
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: task.cancel() if task else None)
    try:
        await daemon.run()
    except asyncio.CancelledError:
        log.info("node daemon stopped")
