"""Machines a fake cloud "boots": the cloud-init user data Corral gave them, read back, and a
real node daemon run from it, as the machine's systemd would run it.

`join_settings(user_data)` is what the node's unit would have in its environment file (the
control URL and the join token); `bootstrap_settings` is what the bootstrap script reads (where
to download the node and report progress) and `bootstrap_steps` the steps it reports.

`boot` does what the machine's bootstrap script would that a test can see (report each step
to the progress URL with the join token, download the node package) and gives the node daemon
to run; `Boot` records how far it got.

`BootedNode` is the machine's `corral-node.service`: `python -m corral.node run` with the
join token in its environment, restarted after a failure (as `Restart=on-failure` does, a
bounded number of times here), and offered the token only until the node has joined (as the
unit's ExecStartPre drops it). Its output goes to files; it is stopped through its PID, and
what it started (its PTY host) is stopped with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from corral.control.providers.cloudinit import (
    BOOTSTRAP_ENV_PATH,
    BOOTSTRAP_SCRIPT_PATH,
    NODE_ENV_PATH,
)
from corral.protocol.frames import NODE_IDENTITY_FILE_NAME
from tests.support.processes import cmdline, corral_env, descendants, stop_process

__all__ = [
    "Boot",
    "BootOptions",
    "BootedNode",
    "boot",
    "bootstrap_settings",
    "bootstrap_steps",
    "is_loopback_url",
    "join_settings",
    "read_user_data",
    "written_files",
]

STOP_SECONDS = 15.0
POLL_SECONDS = 0.1
REPORT_TIMEOUT_SECONDS = 5.0


def read_user_data(user_data: str) -> dict[str, Any]:
    """The cloud-config as data (Corral writes it as JSON, which is YAML too)."""
    header, _, body = user_data.partition("\n")
    assert header.strip() == "#cloud-config", header
    config: dict[str, Any] = json.loads(body)
    return config


def written_files(user_data: str) -> dict[str, dict[str, Any]]:
    """What cloud-init's write_files would write: path → the entry (content, permissions)."""
    return {entry["path"]: entry for entry in read_user_data(user_data).get("write_files", [])}


def _env_file(text: str, *, quoted: bool) -> dict[str, str]:
    values = {}
    for line in text.splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = shlex.split(value)[0] if quoted and value else value
    return values


def join_settings(user_data: str) -> dict[str, str]:
    """node.env: CORRAL_NODE_CONTROL_URL, CORRAL_NODE_JOIN_TOKEN (and SSL_CERT_FILE with a
    private CA), as the node's systemd unit reads them."""
    return _env_file(written_files(user_data)[NODE_ENV_PATH]["content"], quoted=False)


def bootstrap_settings(user_data: str) -> dict[str, str]:
    """bootstrap.env: CORRAL_PACKAGE_URL, CORRAL_PROGRESS_URL, CORRAL_NODE_WHEEL."""
    return _env_file(written_files(user_data)[BOOTSTRAP_ENV_PATH]["content"], quoted=True)


def bootstrap_steps(user_data: str) -> list[str]:
    """The steps the bootstrap script reports, in order (its `begin STEP` lines)."""
    script = written_files(user_data)[BOOTSTRAP_SCRIPT_PATH]["content"]
    return [shlex.split(line)[1] for line in script.splitlines() if line.startswith("begin ")]


def is_loopback_url(url: str) -> bool:
    """Whether `url` names this machine's loopback: the only place a test may send traffic."""
    return urlsplit(url).hostname in ("127.0.0.1", "localhost", "::1")


@dataclass
class BootOptions:
    """How a fake cloud's machines boot."""

    node_env: Mapping[str, str] = field(default_factory=dict)
    """Added to the node daemon's environment: its runtimes and their settings."""
    report_steps: bool = True
    fetch_package: bool = False
    start_node: bool = True
    restart_seconds: float = 1.0
    max_restarts: int = 100


@dataclass
class Boot:
    """How far a machine got booting from its user data."""

    booted: bool = False
    error: str | None = None
    """Why it did not boot: user data that is not a node's, a URL off this machine."""
    reports: list[tuple[str, int | str]] = field(default_factory=list)
    """Each bootstrap step reported, with the progress URL's status (or the error)."""
    package: tuple[int, int] | None = None
    """With `fetch_package`: the package URL's status and the bytes it sent."""
    node: BootedNode | None = None


async def boot(user_data: str, base: Path, options: BootOptions, record: Boot) -> BootedNode | None:
    """Report the bootstrap steps and fetch the package as the script would (into `record`),
    and return the node daemon to run, not yet started (None when there is none to run). Only
    this machine's loopback is ever dialled."""
    try:
        join = join_settings(user_data)
        control_url, token = join["CORRAL_NODE_CONTROL_URL"], join["CORRAL_NODE_JOIN_TOKEN"]
        bootstrap = bootstrap_settings(user_data)
        steps = bootstrap_steps(user_data)
    except (AssertionError, KeyError, ValueError) as exc:
        record.error = f"the user data is not a Corral node's: {exc!r}"
        return None
    urls = (control_url, bootstrap["CORRAL_PROGRESS_URL"], bootstrap["CORRAL_PACKAGE_URL"])
    if not all(is_loopback_url(url) for url in urls):
        record.error = f"not dialling outside this machine: {urls}"
        return None
    record.booted = True
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(timeout=REPORT_TIMEOUT_SECONDS, trust_env=False) as client:
        for step in steps if options.report_steps else []:
            try:
                sent = await client.post(urls[1], json={"step": step}, headers=headers)
                record.reports.append((step, sent.status_code))
            except httpx.HTTPError as exc:
                record.reports.append((step, type(exc).__name__))
        if options.fetch_package:
            got = await client.get(urls[2], headers=headers)
            record.package = (got.status_code, len(got.content))
    if not options.start_node:
        return None
    return BootedNode(
        base,
        control_url,
        token,
        options.node_env,
        restart_seconds=options.restart_seconds,
        max_restarts=options.max_restarts,
    )


class BootedNode:
    """One machine's node daemon, supervised as its systemd unit would be."""

    def __init__(
        self,
        base: Path,
        control_url: str,
        join_token: str,
        env: Mapping[str, str],
        *,
        restart_seconds: float,
        max_restarts: int,
    ) -> None:
        self.base = base
        self.data_dir = base / "data"
        self.control_url = control_url
        self._join_token = join_token
        self._env = dict(env)
        self.restart_seconds = restart_seconds
        self.max_restarts = max_restarts
        self.processes: list[subprocess.Popen[bytes]] = []
        self._stopping = False

    @property
    def pid(self) -> int | None:
        """The running daemon's PID; None when none runs."""
        current = self.processes[-1] if self.processes else None
        return current.pid if current is not None and current.poll() is None else None

    @property
    def joined(self) -> bool:
        return (self.data_dir / NODE_IDENTITY_FILE_NAME).exists()

    def _start(self) -> subprocess.Popen[bytes]:
        env = corral_env(
            self.base / "home",
            None,
            CORRAL_NODE_RECONNECT_MIN_SECONDS="0.1",
            CORRAL_NODE_RECONNECT_MAX_SECONDS="0.5",
            **self._env,
        )
        env["CORRAL_NODE_CONTROL_URL"] = self.control_url
        if not self.joined:
            env["CORRAL_NODE_JOIN_TOKEN"] = self._join_token
        argv = [sys.executable, "-m", "corral.node", "run", "--data-dir", str(self.data_dir)]
        argv += ["--control-url", self.control_url]
        self.base.mkdir(parents=True, exist_ok=True)
        number = len(self.processes) + 1
        with (
            (self.base / f"node-{number}.stdout").open("wb") as out,
            (self.base / f"node-{number}.stderr").open("wb") as err,
        ):
            process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
            )
        self.processes.append(process)
        return process

    async def supervise(self) -> None:
        """Run the daemon, and again after each failure, until it is stopped or has failed
        `max_restarts` times more."""
        for _ in range(self.max_restarts + 1):
            if self._stopping:
                return
            process = self._start()
            if await _exited(process) == 0 or self._stopping:
                return
            await asyncio.sleep(self.restart_seconds)

    def stop(self) -> None:
        """SIGTERM by PID (SIGKILL if it lingers), then whatever it started that is left."""
        self._stopping = True
        for process in self.processes:
            if process.poll() is not None:
                continue
            children = descendants(process.pid)
            stop_process(process, signal.SIGTERM, STOP_SECONDS)
            self._end_leftovers(children)

    def _end_leftovers(self, pids: list[int]) -> None:
        mine = [pid for pid in pids if str(self.data_dir) in cmdline(pid)]
        for sig, wait_seconds in ((signal.SIGTERM, STOP_SECONDS), (signal.SIGKILL, 5.0)):
            for pid in mine:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            deadline = time.monotonic() + wait_seconds
            while any(_running(pid) for pid in mine) and time.monotonic() < deadline:
                time.sleep(POLL_SECONDS)
            mine = [pid for pid in mine if _running(pid)]
            if not mine:
                return

    def stderr(self) -> str:
        """The last daemon's log."""
        number = len(self.processes)
        path = self.base / f"node-{number}.stderr"
        return path.read_text(errors="replace") if number and path.exists() else ""


def _running(pid: int) -> bool:
    """Alive and not a zombie: an orphan's zombie may never be reaped here, where PID 1 is
    not an init system."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


async def _exited(process: subprocess.Popen[bytes]) -> int:
    """The exit code, awaited through a pidfd: no thread waits on the process (one would
    outlive the event loop if the test ended first), and no loop polls it."""
    loop = asyncio.get_running_loop()
    pidfd = os.pidfd_open(process.pid)
    exited: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not exited.done():
            exited.set_result(None)

    loop.add_reader(pidfd, readable)
    try:
        await exited
    finally:
        loop.remove_reader(pidfd)
        os.close(pidfd)
    return process.wait()
