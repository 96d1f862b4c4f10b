"""A real PostgreSQL server for the tests, on a private port, socket and data directory.

`initdb` refuses to run as root, so as root the server runs as the `postgres` system user that
Debian's package creates. Each test gets a database of its own, so no test sees another's rows.

PostgreSQL cannot listen on port 0 and say which port it got, so this picks a port the kernel
had free a moment ago; if another process takes it first, PostgreSQL fails to bind, and `start`
tries again on another one (a few times).
"""

from __future__ import annotations

import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

__all__ = ["PostgresServer"]

START_TIMEOUT_SECONDS = 30
START_ATTEMPTS = 5


def _bin_dir() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run scripts/test-deps.sh (as root)")
    return Path(found[-1]).parent


class PostgresServer:
    def __init__(self) -> None:
        self.bin = _bin_dir()
        self.base = Path(tempfile.mkdtemp(prefix="corral-pg-"))
        self.data = self.base / "data"
        self.port = 0  # chosen by `start`
        self._as_postgres = os.geteuid() == 0
        self._names = itertools.count(1)

    def _run(self, *args: str, check: bool = True) -> int:
        command = [str(self.bin / args[0]), *args[1:]]
        if self._as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(
            command, check=check, capture_output=True, timeout=START_TIMEOUT_SECONDS
        )
        return done.returncode

    def start(self) -> None:
        if self._as_postgres:
            shutil.chown(self.base, "postgres", "postgres")
        self._run(
            "initdb", "-D", str(self.data), "-U", "corral", "-A", "trust", "--no-sync", "-E", "UTF8"
        )
        log = self.base / "server.log"
        for _ in range(START_ATTEMPTS):
            self.port = _unused_port()
            options = f"-h 127.0.0.1 -p {self.port} -k {self.base} -F -c fsync=off"
            start = ("pg_ctl", "start", "-w", "-D", str(self.data), "-o", options, "-l", str(log))
            if self._run(*start, check=False) == 0:
                return
            if "Address already in use" not in _text(log):
                break
            log.unlink()  # taken in the meantime: the next attempt's log starts afresh
        raise RuntimeError(f"PostgreSQL did not start:\n{_text(log)}")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def create_database(self) -> str:
        """Make an empty database and return its SQLAlchemy async URL."""
        name = f"corral_test_{os.getpid()}_{next(self._names)}"
        subprocess.run(
            [
                str(self.bin / "psql"),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "corral",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-c",
                f'CREATE DATABASE "{name}"',
            ],
            check=True,
            capture_output=True,
            timeout=START_TIMEOUT_SECONDS,
        )
        return f"postgresql+asyncpg://corral@127.0.0.1:{self.port}/{name}"


def _unused_port() -> int:
    """A port nothing listened on just now (bind-and-release: see the module's docstring)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _text(log: Path) -> str:
    return log.read_text(errors="replace") if log.exists() else ""
