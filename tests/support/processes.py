"""Real Corral processes for integration tests: a server on a loopback port, and the CLI.

The server's stdout and stderr go to files rather than pipes, so the child can never block on a
full pipe and nothing has to drain it; the helpers below read the files as they grow. A server
binds port 0 unless told a port, and the test learns the port it got from its log line
("listening on http://127.0.0.1:PORT"), so no two tests can race for one. Every wait is an
`eventually`, and a server is only ever stopped through its own PID.
"""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.waits import eventually_sync

__all__ = [
    "CLI_TIMEOUT_SECONDS",
    "CORRAL",
    "START_TIMEOUT_SECONDS",
    "CorralServer",
    "alive",
    "all_pids",
    "assert_one_line_error",
    "cmdline",
    "corral_env",
    "corral_server",
    "descendants",
    "run_cli",
    "running",
    "stop_process",
]

CORRAL = str(Path(sys.executable).with_name("corral"))
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
CLI_TIMEOUT_SECONDS = 60.0
_LOGGER = "corral.server"  # whose "listening on" record carries the port it got
_PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}


def corral_env(home: Path, config_dir: Path | None = None, **extra: str) -> dict[str, str]:
    """This process's environment without any `CORRAL_*` or proxy variable, plus a private HOME
    and CLI config directory, so no test reads or writes a real user's login or data."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("CORRAL_") and key.lower() not in _PROXY_VARIABLES
    }
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_DATA_HOME=str(home / ".local" / "share"),
        CORRAL_CONFIG_DIR=str(config_dir or home / "corral-config"),
        CORRAL_LOG_FORMAT="json",
        NO_COLOR="1",
        TERM="dumb",
    )
    env.update(extra)
    return env


def run_cli(
    *args: str,
    env: dict[str, str],
    input: str | None = None,
    timeout: float = CLI_TIMEOUT_SECONDS,
) -> subprocess.CompletedProcess[str]:
    """Run `corral ARGS` as a user would; stdin is `input`, or empty so nothing can prompt."""
    return subprocess.run(
        [CORRAL, *args],
        input=input,
        stdin=subprocess.DEVNULL if input is None else None,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
        check=False,
    )


class CorralServer:
    """One `corral serve` (or `corral up`) process listening on 127.0.0.1: on `port`, or on the
    one the kernel gives it (port 0), known once `wait_listening` has read it from the log.
    With `verify`, it serves HTTPS (`extra_args` give it a certificate) that `verify` trusts."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str],
        *,
        command: str = "serve",
        port: int = 0,
        extra_args: Sequence[str] = (),
        output_dir: Path | None = None,
        corral: str | Path = CORRAL,
        verify: ssl.SSLContext | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.env = env
        self.port = port
        self.verify = verify
        output_dir = output_dir or data_dir.parent
        output_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{command}-{time.monotonic_ns()}"
        self.stdout_path = output_dir / f"{stem}.stdout"
        self.stderr_path = output_dir / f"{stem}.stderr"
        self.link: str | None = None
        argv = [str(corral), command, "--data-dir", str(data_dir), "--port", str(self.port)]
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [*argv, *extra_args], stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def url(self) -> str:
        assert self.port, "the server's port is not known before `wait_listening`"
        return f"{'http' if self.verify is None else 'https'}://127.0.0.1:{self.port}"

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """The complete JSON log lines written so far (a line still being written is skipped)."""
        text = self.stderr()
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def _context(self) -> str:
        return (
            f"--- exit code: {self.process.poll()}\n--- stdout:\n{self.stdout()}"
            f"\n--- stderr:\n{self.stderr()}"
        )

    def _running(self, before: str) -> None:
        """Fail at once if Corral has exited: what a wait awaits will not come."""
        if self.process.poll() is not None:
            pytest.fail(f"Corral exited before {before}\n{self._context()}")

    def wait_listening(self, wait_seconds: float) -> int:
        """The port Corral listens on: the one asked for, or the one its log line names."""
        if not self.port:

            def logged() -> int | None:
                self._running("saying its port")
                ports = [
                    r["port"] for r in self.log_records() if r["logger"] == _LOGGER and "port" in r
                ]
                return ports[0] if ports else None

            self.port = eventually_sync(
                logged,
                "Corral's 'listening on' log line",
                wait_seconds=wait_seconds,
                context=self._context,
            )
        return self.port

    def wait_for_link(self, wait_seconds: float) -> str:
        """The login link, printed alone on a line of stdout."""
        pattern = re.compile(rf"^({re.escape(self.url)}/auth/login\?token=\S+)$", re.MULTILINE)

        def printed() -> str | None:
            found = pattern.search(self.stdout())
            if not found:
                self._running("printing a login link")
            return found.group(1) if found else None

        self.link = eventually_sync(
            printed, "a login link", wait_seconds=wait_seconds, context=self._context
        )
        return self.link

    def wait_healthy(self, wait_seconds: float) -> None:
        with httpx.Client(
            base_url=self.url, timeout=2.0, trust_env=False, verify=self.verify or True
        ) as client:

            def healthy() -> bool:
                self._running("answering /healthz")
                try:
                    return client.get("/healthz").status_code == 200
                except httpx.HTTPError:
                    return False

            eventually_sync(
                healthy, "/healthz answering 200", wait_seconds=wait_seconds, context=self._context
            )

    def wait_for_log(self, wait_seconds: float, **fields: object) -> dict[str, Any]:
        """The first log record whose fields include `fields`, waiting for it to be written."""

        def written() -> dict[str, Any] | None:
            return next(
                (
                    record
                    for record in self.log_records()
                    if all(record.get(key) == value for key, value in fields.items())
                ),
                None,
            )

        return eventually_sync(
            written,
            f"a log record with {fields!r}",
            wait_seconds=wait_seconds,
            context=self._context,
        )

    def stop(self) -> int:
        return stop_process(self.process, signal.SIGTERM, STOP_TIMEOUT_SECONDS)


def descendants(pid: int) -> list[int]:
    """The PIDs of every live process below `pid` (children, theirs, and so on), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                stat = file.read()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields start after the last ')'.
        parent = int(stat[stat.rindex(")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry))
    found, queue = [], [pid]
    while queue:
        for child in children.get(queue.pop(), []):
            found.append(child)
            queue.append(child)
    return found


def all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def cmdline(pid: int) -> str:
    """A process's command line, its arguments joined by spaces; "" once it has gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as file:
            return file.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def pty_hosts(node_data_dir: Path) -> list[int]:
    """The PIDs of the PTY hosts of the node with this data directory."""
    return [
        pid
        for pid in all_pids()
        if "pty-host" in (line := cmdline(pid)) and str(node_data_dir) in line
    ]


def alive(pid: int) -> bool:
    """Whether a process with this PID exists (a zombie counts until it is reaped)."""
    return os.path.exists(f"/proc/{pid}")


def running(pid: int) -> bool:
    """Whether a process exists and is not a zombie: an orphan's zombie may never be reaped
    here, where PID 1 is not an init system."""
    try:
        with open(f"/proc/{pid}/stat") as file:
            stat = file.read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def stop_process(process: subprocess.Popen[Any], sig: int, wait_seconds: float) -> int:
    """Send `sig` by PID, then SIGKILL if it has not exited in time; return the exit code."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=wait_seconds)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=wait_seconds)
    return process.returncode


@contextmanager
def corral_server(
    data_dir: Path,
    env: dict[str, str],
    *,
    command: str = "serve",
    port: int = 0,
    expect_link: bool = True,
    extra_args: Sequence[str] = (),
    timeout: float = START_TIMEOUT_SECONDS,
    corral: str | Path = CORRAL,
    verify: ssl.SSLContext | None = None,
) -> Iterator[CorralServer]:
    """Start Corral (this checkout's, or the `corral` given) on `port` (0: a free one), wait
    for its port, its login link (when one is expected) and /healthz, all within `timeout`, and
    stop it on the way out however the block ends."""
    server = CorralServer(
        data_dir,
        env,
        command=command,
        port=port,
        extra_args=extra_args,
        corral=corral,
        verify=verify,
    )
    try:
        deadline = time.monotonic() + timeout
        server.wait_listening(deadline - time.monotonic())
        if expect_link:
            server.wait_for_link(deadline - time.monotonic())
        server.wait_healthy(deadline - time.monotonic())
        yield server
    finally:
        server.stop()


def assert_one_line_error(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """The CLI failed the way it promises to: non-zero, one `error:` line, no traceback."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]
