"""terminado (Jupyter's terminal server) on 127.0.0.1: the baseline of bench/terminal.py.

    .venv/bin/python -m bench.terminado_server

It listens on a free port and prints the port, alone on the first line of stdout.

Each WebSocket to /websocket gets a new `bash --norc` on its own PTY (terminado's
UniqueTermManager), spoken to in terminado's JSON arrays: ["stdin", text], ["stdout", text],
["set_size", rows, cols]. Stops on SIGTERM or SIGINT, ending its shells.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import tornado.httpserver
import tornado.netutil
import tornado.web
from terminado.management import UniqueTermManager
from terminado.websocket import TermSocket

SHELL: Any = ["bash", "--norc"]  # terminado types it as str but runs it as an argv


async def serve() -> None:
    manager = UniqueTermManager(shell_command=SHELL, term_settings={"type": "xterm-256color"})
    app = tornado.web.Application([(r"/websocket", TermSocket, {"term_manager": manager})])
    sockets = tornado.netutil.bind_sockets(0, address="127.0.0.1")
    server = tornado.httpserver.HTTPServer(app)
    server.add_sockets(sockets)
    print(sockets[0].getsockname()[1], flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        server.stop()
        await manager.shutdown()


if __name__ == "__main__":
    asyncio.run(serve())
