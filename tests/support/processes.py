"""Real Corral processes for integration tests: a server on a loopback port, and the CLI.

The server's stdout and stderr go to files rather than pipes, so the child can never block on a
full pipe and nothing has to drain it; the helpers below read the files as they grow. Every wait
is bounded by a deadline, and a server is only ever stopped through its own PID.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from tests.support.net import free_port

__all__ = [
    "CLI_TIMEOUT_SECONDS",
    "CORRAL",
    "START_TIMEOUT_SECONDS",
    "CorralServer",
    "alive",
    "assert_one_line_error",
    "corral_env",
    "corral_server",
    "descendants",
    "run_cli",
    "stop_process",
]

CORRAL = str(Path(sys.executable).with_name("corral"))
START_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 15.0
CLI_TIMEOUT_SECONDS = 60.0
_POLL_SECONDS = 0.05
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
    """One `corral serve` (or `corral up`) process listening on 127.0.0.1."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str],
        *,
        command: str = "serve",
        port: int | None = None,
        extra_args: Sequence[str] = (),
        output_dir: Path | None = None,
        corral: str | Path = CORRAL,
    ) -> None:
        self.data_dir = data_dir
        self.env = env
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        output_dir = output_dir or data_dir.parent
        output_dir.mkdir(parents=True, exist_ok=True)
        stem = f"{command}-{self.port}-{time.monotonic_ns()}"
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

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, Any]]:
        """The complete JSON log lines written so far (a line still being written is skipped)."""
        text = self.stderr()
        complete = text[: text.rfind("\n") + 1]
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def _fail(self, why: str) -> AssertionError:
        return AssertionError(
            f"{why}\n--- exit code: {self.process.poll()}\n--- stdout:\n{self.stdout()}"
            f"\n--- stderr:\n{self.stderr()}"
        )

    def wait_for_link(self, deadline: float) -> str:
        """The login link, printed alone on a line of stdout."""
        pattern = re.compile(
            rf"^(http://127\.0\.0\.1:{self.port}/auth/login\?token=\S+)$", re.MULTILINE
        )
        while True:
            found = pattern.search(self.stdout())
            if found:
                self.link = found.group(1)
                return self.link
            if self.process.poll() is not None:
                raise self._fail("Corral exited before printing a login link")
            if time.monotonic() > deadline:
                raise self._fail("Corral printed no login link in time")
            time.sleep(_POLL_SECONDS)

    def wait_healthy(self, deadline: float) -> None:
        with httpx.Client(base_url=self.url, timeout=2.0, trust_env=False) as client:
            while True:
                if self.process.poll() is not None:
                    raise self._fail("Corral exited before answering /healthz")
                try:
                    if client.get("/healthz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise self._fail("Corral did not answer /healthz in time")
                time.sleep(_POLL_SECONDS)

    def wait_for_log(self, deadline: float, **fields: object) -> dict[str, Any]:
        """The first log record whose fields include `fields`, waiting for it to be written."""
        while True:
            for record in self.log_records():
                if all(record.get(key) == value for key, value in fields.items()):
                    return record
            if time.monotonic() > deadline:
                raise self._fail(f"no log record with {fields!r} in time")
            time.sleep(_POLL_SECONDS)

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


def alive(pid: int) -> bool:
    """Whether a process with this PID exists (a zombie counts until it is reaped)."""
    return os.path.exists(f"/proc/{pid}")


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
    port: int | None = None,
    expect_link: bool = True,
    extra_args: Sequence[str] = (),
    timeout: float = START_TIMEOUT_SECONDS,
    corral: str | Path = CORRAL,
) -> Iterator[CorralServer]:
    """Start Corral (this checkout's, or the `corral` given), wait for its login link (when
    one is expected) and for /healthz, and stop it on the way out however the block ends."""
    server = CorralServer(
        data_dir, env, command=command, port=port, extra_args=extra_args, corral=corral
    )
    try:
        deadline = time.monotonic() + timeout
        if expect_link:
            server.wait_for_link(deadline)
        server.wait_healthy(deadline)
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
