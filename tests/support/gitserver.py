"""A git server on 127.0.0.1 (`git daemon`, the git:// protocol), serving test repositories.

A local path does for most tests, but not when the control plane and a node run as different
users: git refuses a repository owned by another user ("dubious ownership"). Served over a
protocol, the repository is read by the daemon's user alone, as it would be from a forge.

`git daemon` cannot listen on port 0 (it takes 0 for its default, 9418), so this process
listens on a port the kernel picks and hands each connection to a `git daemon --inetd` of its
own, as inetd would. The port is known, and listening, before the first clone: no race for a
port, and nothing to wait for.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.support.processes import stop_process

__all__ = ["git_daemon"]

STOP_TIMEOUT_SECONDS = 10.0


@contextmanager
def git_daemon(base: Path) -> Iterator[str]:
    """Serve every repository under `base`; yields the URL prefix (`git://127.0.0.1:PORT`)."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    argv = ["git", "daemon", "--inetd", "--export-all", f"--base-path={base}", str(base)]
    serving: list[subprocess.Popen[Any]] = []
    lock = threading.Lock()

    def accept() -> None:
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # shut down: the block has ended
                return
            with connection, lock:
                serving[:] = [daemon for daemon in serving if daemon.poll() is None]
                fd = connection.fileno()  # the daemon's stdin and stdout, as inetd gives it
                serving.append(
                    subprocess.Popen(argv, stdin=fd, stdout=fd, stderr=subprocess.DEVNULL)
                )

    acceptor = threading.Thread(target=accept, name="git-daemon", daemon=True)
    acceptor.start()
    try:
        yield f"git://127.0.0.1:{port}"
    finally:
        listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        acceptor.join(STOP_TIMEOUT_SECONDS)
        listener.close()
        with lock:
            for daemon in serving:
                stop_process(daemon, signal.SIGTERM, STOP_TIMEOUT_SECONDS)
