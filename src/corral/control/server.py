"""Running the control plane under uvicorn, holding its data directory's lock meanwhile."""

from __future__ import annotations

import contextlib
import errno
import logging
import resource
import signal
import socket
import sys

import uvicorn
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.control.app import OnReady, create_app
from corral.control.datadir import data_dir_lock, write_runtime_file
from corral.control.httplimits import limited_http_protocol
from corral.control.tls import check_tls_files
from corral.errors import Conflict
from corral.settings import Settings

__all__ = ["serve"]

log = logging.getLogger("corral.server")

# Node link text frames are at most 1 MiB; a little room for framing.
MAX_WEBSOCKET_MESSAGE_BYTES = 1024 * 1024 + 4096
# File descriptors beyond the connections: the database, the log, git and its pipes, the listener.
SPARE_FILE_DESCRIPTORS = 256


def _make_room_for_connections(max_connections: int) -> None:
    """Raise the soft open-file limit (often 1024) towards the hard one, so `max_connections`
    connections fit with room to spare; warn when the hard limit is too low for that."""
    wanted = max_connections + SPARE_FILE_DESCRIPTORS
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    new_soft = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if new_soft > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new_soft, hard))
    if new_soft < wanted:
        log.warning(
            "the open-file limit (%d) leaves too little room for http.max_connections = %d; "
            "lower that setting or raise the limit (ulimit -n)",
            new_soft,
            max_connections,
        )


def _bind(host: str, port: int) -> socket.socket:
    """A socket bound to host:port (not yet listening), or `Conflict` saying why not."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise Conflict(
                f"port {port} on {host} is in use: is Corral already running? "
                "Choose another with --port",
                reason="port_in_use",
            ) from exc
        raise Conflict(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return sock


def _listen_where_asked(settings: Settings) -> tuple[Settings, list[socket.socket] | None]:
    """Port 0 asks the kernel for a free port: bind it now, before anything uses the port
    (login links, `server.json`, the local node's control URL), and serve on that socket.
    Any other port is checked here, for a clear error, and bound by uvicorn as usual."""
    if settings.port != 0:
        _bind(settings.host, settings.port).close()
        return settings, None
    sock = _bind(settings.host, 0)
    port: int = sock.getsockname()[1]
    # uvicorn says where it listens only when it binds the socket itself; say it for it.
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    scheme = "https" if settings.tls_certfile is not None else "http"
    log.info("listening on %s://%s:%d", scheme, host, port, extra={"port": port})
    return settings.model_copy(update={"port": port}), [sock]


class _StartupTracebackLeftOut:
    """The app, minus the traceback Starlette hands uvicorn when start-up fails: the lifespan
    has logged the cause already (one line for one the user can act on, such as a database it
    cannot reach; the traceback for a bug). uvicorn still logs that start-up failed and exits
    with its start-up failure status."""

    def __init__(self, app: ASGIApp) -> None:
        self._app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self._app(scope, receive, send)
            return

        async def send_without_traceback(message: Message) -> None:
            if message["type"] == "lifespan.startup.failed":
                message = {**message, "message": ""}
            await send(message)

        await self._app(scope, receive, send_without_traceback)


def serve(settings: Settings, *, on_ready: OnReady | None = None) -> None:
    """Serve until interrupted; migrations and the owner are handled by the app's lifespan.

    With port 0, the port the kernel gave is the one in `settings.port` from here on (in login
    links and `server.json`), and a log line says it: "listening on http://127.0.0.1:PORT",
    with the port in its `port` field.

    With `tls_certfile` it serves HTTPS only (uvicorn's own TLS, under the same HTTP limits:
    they apply to the decrypted bytes), after checking the files say why they cannot."""
    check_tls_files(settings)
    with data_dir_lock(settings.data_dir, "starting another one"):
        settings, sockets = _listen_where_asked(settings)
        runtime_file = write_runtime_file(settings.data_dir, settings.effective_public_url)
        app = _StartupTracebackLeftOut(create_app(settings, on_ready=on_ready))
        _make_room_for_connections(settings.http.max_connections)
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            proxy_headers=True,
            forwarded_allow_ips=settings.trusted_proxies,
            server_header=False,
            lifespan="on",
            # httptools with the limits on request heads and connections in `[http]`.
            http=limited_http_protocol(settings.http),
            timeout_keep_alive=settings.http.keep_alive_timeout_seconds,
            ws_max_size=MAX_WEBSOCKET_MESSAGE_BYTES,
            # Terminal bytes and small JSON frames gain little from deflate, and it cost more
            # CPU than anything else on the terminal path (measured with bench/terminal.py).
            ws_per_message_deflate=False,
            # The sans-I/O implementation answers a frame about 10% sooner than the legacy one.
            ws="websockets-sansio",
            ssl_certfile=settings.tls_certfile,
            ssl_keyfile=settings.tls_keyfile,
        )
        # uvicorn shuts down cleanly on SIGTERM and then re-raises it with the handler it found,
        # which by default kills the process before `finally` runs; exit normally instead.
        previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            uvicorn.Server(config).run(sockets=sockets)
        finally:
            signal.signal(signal.SIGTERM, previous)
            with contextlib.suppress(OSError):
                runtime_file.unlink()
            for sock in sockets or ():
                sock.close()
