"""A TCP load balancer for tests: one address in front of several control plane replicas.

Each connection goes to the first backend that accepts it, in the order given, so the test knows
where a node lands (the first replica) until that replica dies (then the next one). It runs on
its own event loop in a thread, so blocking tests can use it; it copies bytes both ways and
knows nothing of HTTP, as a layer-4 balancer in front of replicas would.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator

__all__ = ["Balancer", "balancer", "copy_stream"]

CONNECT_TIMEOUT_SECONDS = 2.0
CHUNK_BYTES = 64 * 1024


class Balancer:
    def __init__(self, backends: list[tuple[str, int]]) -> None:
        self.backends = backends
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="balancer", daemon=True)
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the balancer did not start")

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._serve, "127.0.0.1", 0)
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        try:
            self._loop.run_forever()
        finally:
            for task in self._connections:
                task.cancel()
            self._server.close()
            self._loop.run_until_complete(
                asyncio.gather(*self._connections, return_exceptions=True)
            )
            self._loop.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            for host, port in list(self.backends):
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS):
                        up_reader, up_writer = await asyncio.open_connection(host, port)
                except (OSError, TimeoutError):
                    continue
                await asyncio.gather(
                    copy_stream(reader, up_writer),
                    copy_stream(up_reader, writer),
                    return_exceptions=True,
                )
                return
        finally:
            writer.close()
            self._connections.discard(task)


async def copy_stream(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(CHUNK_BYTES):
            sink.write(data)
            await sink.drain()
    finally:
        with contextlib.suppress(OSError):
            sink.close()


@contextlib.contextmanager
def balancer(backends: list[tuple[str, int]]) -> Iterator[Balancer]:
    running = Balancer(backends)
    running.start()
    try:
        yield running
    finally:
        running.stop()
