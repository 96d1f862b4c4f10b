"""An HTTP proxy for tests that only tunnels (CONNECT), as a company proxy does for HTTPS.

It lets a test give the control plane a name that is not a loopback address, so the node
must go through the machine's proxy to reach it (a loopback address never does): the proxy
resolves the names it is told of (`routes`) to ports on 127.0.0.1 and refuses every other.
It keeps each request line, to show what went through it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from tests.support.balancer import Balancer, copy_stream

__all__ = ["ConnectProxy", "connect_proxy"]

MAX_HEAD_BYTES = 16 * 1024


class ConnectProxy(Balancer):
    def __init__(self, routes: dict[str, int]) -> None:
        super().__init__([])
        self.routes = routes
        """`host:port` as the client names it, to the port on 127.0.0.1 it reaches."""
        self.request_lines: list[str] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            line = head.split(b"\r\n", 1)[0].decode("latin-1")
            self.request_lines.append(line)
            method, target, _ = [*line.split(" "), "", ""][:3]
            port = self.routes.get(target) if method == "CONNECT" else None
            if port is None:
                writer.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
                return
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            await asyncio.gather(
                copy_stream(reader, up_writer),
                copy_stream(up_reader, writer),
                return_exceptions=True,
            )
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()
            self._connections.discard(task)


@contextlib.contextmanager
def connect_proxy(routes: dict[str, int]) -> Iterator[ConnectProxy]:
    running = ConnectProxy(routes)
    running.start()
    try:
        yield running
    finally:
        running.stop()
