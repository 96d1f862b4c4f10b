"""A git server on 127.0.0.1 (`git daemon`, the git:// protocol), serving test repositories.

A local path does for most tests, but not when the control plane and a node run as different
users: git refuses a repository owned by another user ("dubious ownership"). Served over a
protocol, the repository is read by the daemon's user alone, as it would be from a forge.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.net import free_port
from tests.support.processes import stop_process

__all__ = ["git_daemon"]

START_TIMEOUT_SECONDS = 15.0
STOP_TIMEOUT_SECONDS = 10.0


@contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """Serve every repository under `base`; yields the URL prefix (`git://127.0.0.1:PORT`)."""
    port = free_port()
    process = subprocess.Popen(
        [
            "git",
            "daemon",
            "--export-all",
            f"--base-path={base}",
            "--listen=127.0.0.1",
            f"--port={port}",
            "--reuseaddr",
            str(base),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError("git daemon did not start") from None
                time.sleep(0.05)
        yield f"git://127.0.0.1:{port}"
    finally:
        stop_process(process, signal.SIGTERM, STOP_TIMEOUT_SECONDS)
