"""The control plane's data directory: private to its owner, and served by one process at a time.

`server.lock` is held (flock) by the serving process for its lifetime. A second `corral up` on
the same directory is refused, and `corral secrets rotate-key` takes the same lock, so a key can
never be replaced under a live server that would go on encrypting with the old one. The lock
goes with the process, however it ends. `server.json` beside it records where the server listens.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from corral.errors import Conflict

__all__ = [
    "RunningServer",
    "data_dir_lock",
    "prepare_data_dir",
    "read_running_server",
    "write_runtime_file",
]

LOCK_FILE_NAME = "server.lock"
RUNTIME_FILE_NAME = "server.json"


@dataclass(frozen=True)
class RunningServer:
    url: str
    pid: int


def prepare_data_dir(data_dir: Path) -> None:
    """Make the directory (0700) and have everything written after this be owner-only: the
    database, the key file, the runtime file hold secrets or their hashes."""
    os.umask(0o077)
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)


@contextlib.contextmanager
def data_dir_lock(data_dir: Path, purpose: str) -> Iterator[None]:
    """Hold the data directory's lock, or raise `Conflict` if a server holds it."""
    prepare_data_dir(data_dir)
    fd = os.open(data_dir / LOCK_FILE_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            running = read_running_server(data_dir)
            where = f" at {running.url} (pid {running.pid})" if running else ""
            raise Conflict(
                f"Corral is running on {data_dir}{where}; stop it before {purpose}",
                reason="server_running",
            ) from None
        yield
    finally:
        os.close(fd)


def _locked_by_someone(data_dir: Path) -> bool:
    try:
        fd = os.open(data_dir / LOCK_FILE_NAME, os.O_RDWR)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)
    return False


def read_running_server(data_dir: Path) -> RunningServer | None:
    """The control plane serving this data directory, if one does."""
    if not _locked_by_someone(data_dir):
        return None
    try:
        info = json.loads((data_dir / RUNTIME_FILE_NAME).read_text())
        return RunningServer(url=str(info["url"]), pid=int(info["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_runtime_file(data_dir: Path, url: str) -> Path:
    path = data_dir / RUNTIME_FILE_NAME
    path.write_text(json.dumps({"url": url, "pid": os.getpid()}))
    return path
