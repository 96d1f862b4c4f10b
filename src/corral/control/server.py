"""Running the control plane under uvicorn, and the runtime file that says where it listens.

`server.json` in the data directory records the URL and PID of the running control plane, so
`corral auth link` prints links with the right port and `corral secrets rotate-key` can refuse to
run under a live server.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import socket
import sys
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from corral.control.app import OnReady, create_app
from corral.errors import Conflict
from corral.settings import Settings

__all__ = ["RunningServer", "read_running_server", "serve"]

RUNTIME_FILE_NAME = "server.json"


@dataclass(frozen=True)
class RunningServer:
    url: str
    pid: int


def read_running_server(data_dir: Path) -> RunningServer | None:
    """The control plane running on this data directory, if its process is still alive."""
    path = data_dir / RUNTIME_FILE_NAME
    try:
        info = json.loads(path.read_text())
        pid, url = int(info["pid"]), str(info["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return RunningServer(url=url, pid=pid)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise Conflict(
                    f"port {port} on {host} is in use: is Corral already running? "
                    "Choose another with --port",
                    reason="port_in_use",
                ) from exc
            raise Conflict(f"cannot listen on {host}:{port}: {exc.strerror}") from exc


def serve(settings: Settings, *, on_ready: OnReady | None = None) -> None:
    """Serve until interrupted; migrations and the owner are handled by the app's lifespan."""
    _check_port_free(settings.host, settings.port)
    # Everything the control plane writes (database, key, runtime file) is for its owner alone.
    os.umask(0o077)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    runtime_file = settings.data_dir / RUNTIME_FILE_NAME
    runtime_file.write_text(json.dumps({"url": settings.effective_public_url, "pid": os.getpid()}))
    app = create_app(settings, on_ready=on_ready)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        lifespan="on",
    )
    # uvicorn shuts down cleanly on SIGTERM and then re-raises it with the handler it found, which
    # by default kills the process before `finally` runs; exit normally instead.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.Server(config).run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        with contextlib.suppress(OSError):
            runtime_file.unlink()
