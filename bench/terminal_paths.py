"""The three ways bench/terminal.py reaches a shell, each behind the same small client.

- `CorralTerminal`: a browser's WebSocket to the control plane of a real `corral up`, which
  relays over its node link to the node daemon process, which runs the shell on a PTY (inside
  bubblewrap where the host runtime finds it).
- `TerminadoTerminal`: a WebSocket to bench/terminado_server.py (Jupyter's terminal server).
- `RawPty`: `os.openpty` and bash, read and written in this process: the floor.

Each client sends input bytes and returns output bytes as they come; `Screen` adds what the
benchmark needs on top (wait for some bytes, run a command and wait for it to finish). Both
WebSocket clients offer permessage-deflate, as browsers do: Corral's server accepts it, tornado
(terminado) declines it by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import httpx
from tests.support.processes import CorralServer, corral_env, corral_server
from tests.support.waits import eventually
from websockets.asyncio.client import ClientConnection, connect

__all__ = [
    "COLS",
    "ROWS",
    "CorralHost",
    "CorralTerminal",
    "RawPty",
    "Screen",
    "TerminadoTerminal",
    "TerminalClient",
    "corral_host",
    "terminado_server",
]

COLS, ROWS = 120, 40
READ_BYTES = 64 * 1024
MAX_FRAME_BYTES = 4 * 1024 * 1024
START_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
POLL_SECONDS = 0.1
LOG_TAIL_LINES = 20


class TerminalClient(Protocol):
    async def send(self, data: bytes) -> None: ...

    async def receive(self) -> bytes:
        """The next output (b"" for a frame that carried none); EOFError once it has ended."""
        ...

    async def close(self) -> None: ...


class Screen:
    """Output of one terminal as a byte stream to wait on, every wait bounded by a deadline."""

    def __init__(self, client: TerminalClient) -> None:
        self.client = client
        self.pending = bytearray()
        self._markers = 0

    async def _more(self, deadline: float) -> bytes:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the terminal did not print what was expected in time")
        async with asyncio.timeout(remaining):
            return await self.client.receive()

    async def expect(self, needle: bytes, deadline: float) -> None:
        """Wait until `needle` has been printed; drop the output up to its end."""
        while (found := self.pending.find(needle)) < 0:
            self.pending += await self._more(deadline)
        del self.pending[: found + len(needle)]

    async def drain_until(self, marker: bytes, deadline: float) -> int:
        """Read until `marker` is printed, keeping only a tail; return how many bytes came."""
        tail, count = bytes(self.pending), len(self.pending)
        self.pending.clear()
        while (found := tail.find(marker)) < 0:
            chunk = await self._more(deadline)
            count += len(chunk)
            tail = tail[-len(marker) :] + chunk
        self.pending += tail[found + len(marker) :]
        return count

    async def run(self, command: str, deadline: float) -> None:
        """Type `command` at the shell prompt, then wait for the marker it prints after it.

        The marker is typed as `printf '%s_%s\\n' SYNC 7` and printed as SYNC_7, so the echo of
        the typed line never matches it.
        """
        self._markers += 1
        typed = f"{command}{'; ' if command else ''}printf '%s_%s\\n' SYNC {self._markers}\r"
        await self.client.send(typed.encode())
        await self.expect(f"SYNC_{self._markers}".encode(), deadline)


# -- Corral ----------------------------------------------------------------------------------


@dataclass
class CorralHost:
    server: CorralServer
    api: httpx.AsyncClient
    token: str
    workspace_id: str
    node_pid: int

    @property
    def pids(self) -> tuple[int, ...]:
        """The control plane (`corral up`), its node daemon and the node's PTY host."""
        return (self.server.pid, *self.node_pids)

    @property
    def node_pids(self) -> tuple[int, ...]:
        """The node daemon and its children (the PTY host, which holds the terminals)."""
        return (self.node_pid, *child_pids(self.node_pid))

    async def new_terminal(self) -> str:
        response = await self.api.post(
            f"/workspaces/{self.workspace_id}/terminals", json={"cols": COLS, "rows": ROWS}
        )
        response.raise_for_status()
        terminal_id: str = response.json()["id"]
        return terminal_id

    async def delete_terminal(self, terminal_id: str) -> None:
        response = await self.api.delete(f"/workspaces/{self.workspace_id}/terminals/{terminal_id}")
        response.raise_for_status()

    async def delete_terminals(self) -> None:
        """Delete every terminal of the workspace."""
        listed = await self.api.get(f"/workspaces/{self.workspace_id}/terminals")
        for terminal in listed.raise_for_status().json():
            await self.delete_terminal(terminal["id"])

    async def attach_new(self) -> CorralTerminal:
        return await self.attach(await self.new_terminal())

    async def attach(self, terminal_id: str) -> CorralTerminal:
        port = self.server.port
        path = f"/api/v1/workspaces/{self.workspace_id}/terminals/{terminal_id}/ws"
        connection = await connect(
            f"ws://127.0.0.1:{port}{path}",
            additional_headers={"Authorization": f"Bearer {self.token}"},
            max_size=MAX_FRAME_BYTES,
        )
        attached = json.loads(await connection.recv())
        if attached.get("type") != "attached":
            raise RuntimeError(f"expected an attached frame, got {attached!r}")
        await connection.send(json.dumps({"type": "resize", "cols": COLS, "rows": ROWS}))
        return CorralTerminal(connection)


class CorralTerminal:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send(self, data: bytes) -> None:
        await self.connection.send(data)

    async def receive(self) -> bytes:
        message = await self.connection.recv()
        return message if isinstance(message, bytes) else b""

    async def close(self) -> None:
        await self.connection.close()


def child_pids(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            children += [int(c) for c in (task / "children").read_text().split()]
    return children


def _is_node_run(argv: list[bytes]) -> bool:
    """`corral node run …` or `python -m corral.node run …` (how `corral up` starts it)."""
    return bool({b"node", b"corral.node"} & set(argv)) and b"run" in argv


def node_agent_pid(up_pid: int) -> int | None:
    for child in child_pids(up_pid):
        with contextlib.suppress(OSError):
            argv = Path(f"/proc/{child}/cmdline").read_bytes().split(b"\0")
            if _is_node_run(argv):
                return child
    return None


async def _poll(api: httpx.AsyncClient, path: str, ready: str, deadline: float) -> None:
    async def reached() -> bool:
        body = (await api.get(path)).raise_for_status().json()
        items = body.get("items", [body])
        if any(item["state"] == "error" for item in items):
            raise RuntimeError(f"{path} went into error: {items}")
        return any(item["state"] == ready and item.get("connected", True) for item in items)

    await eventually(
        reached,
        f"{path} {ready}",
        wait_seconds=deadline - time.monotonic(),
        interval=POLL_SECONDS,
    )


@asynccontextmanager
async def corral_host(root: Path, repo: Path) -> AsyncIterator[CorralHost]:
    """`corral up` with its local node, signed in, with one running workspace of `repo`."""
    env = corral_env(root / "home")
    with corral_server(
        root / "data", env, command="up", extra_args=["--no-browser"], timeout=START_TIMEOUT_SECONDS
    ) as server:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        assert server.link is not None
        link_token = server.link.split("token=")[1]
        node_pid: int | None = None
        try:
            async with httpx.AsyncClient(
                base_url=f"{server.url}/api/v1", timeout=30.0, trust_env=False
            ) as api:
                exchanged = await api.post("/auth/exchange", json={"token": link_token})
                token = exchanged.raise_for_status().json()["token"]["token"]
                api.headers["Authorization"] = f"Bearer {token}"
                await _poll(api, "/nodes", "ready", deadline)
                node_pid = node_agent_pid(server.pid)
                if node_pid is None:
                    raise RuntimeError("found no node daemon process under `corral up`")
                project = {"name": "bench", "repo": str(repo)}
                (await api.post("/projects", json=project)).raise_for_status()
                created = await api.post("/workspaces", json={"project": "bench"})
                workspace_id = created.raise_for_status().json()["id"]
                await _poll(api, f"/workspaces/{workspace_id}", "running", deadline)
                yield CorralHost(server, api, token, workspace_id, node_pid)
        except Exception:
            log = server.stderr().splitlines()[-LOG_TAIL_LINES:]
            print("--- the end of corral's log:", *log, sep="\n", file=sys.stderr)
            raise
        finally:
            server.stop()
            if node_pid is not None:
                _kill_if_left(node_pid)


def _kill_if_left(node_pid: int) -> None:
    """`corral up` stops its node daemon; make sure, by the PID we found (if it still is one)."""
    with contextlib.suppress(OSError):
        argv = Path(f"/proc/{node_pid}/cmdline").read_bytes().split(b"\0")
        if _is_node_run(argv):
            os.kill(node_pid, signal.SIGKILL)


# -- terminado -------------------------------------------------------------------------------


@asynccontextmanager
async def terminado_server(log_dir: Path) -> AsyncIterator[int]:
    """bench/terminado_server.py on the free loopback port it prints; yields the port."""
    process = _start_terminado(log_dir / "terminado.log")
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(
            asyncio.to_thread(process.stdout.readline), START_TIMEOUT_SECONDS
        )
        if not line:
            raise RuntimeError("terminado did not start; see terminado.log")
        yield int(line)
    finally:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _start_terminado(log_path: Path) -> subprocess.Popen[bytes]:
    """Its port comes on stdout, a pipe (nothing else is printed there); its log to a file."""
    argv = [sys.executable, "-m", "bench.terminado_server"]
    with log_path.open("wb") as log:
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log)


class TerminadoTerminal:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    @classmethod
    async def open(cls, port: int) -> TerminadoTerminal:
        connection = await connect(f"ws://127.0.0.1:{port}/websocket", max_size=MAX_FRAME_BYTES)
        await connection.send(json.dumps(["set_size", ROWS, COLS]))
        return cls(connection)

    async def send(self, data: bytes) -> None:
        await self.connection.send(json.dumps(["stdin", data.decode()]))

    async def receive(self) -> bytes:
        kind, *body = json.loads(await self.connection.recv())
        if kind == "disconnect":
            raise EOFError("terminado closed the terminal")
        return str(body[0]).encode() if kind == "stdout" else b""

    async def close(self) -> None:
        await self.connection.close()


# -- a raw PTY -------------------------------------------------------------------------------


def _controlling_tty() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)  # job control, so Ctrl-C reaches `cat`


class RawPty:
    """bash --norc on a PTY of this process, read and written directly."""

    def __init__(self) -> None:
        self.fd, slave = os.openpty()
        try:
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLS, 0, 0))
            self.process = subprocess.Popen(
                ["bash", "--norc"],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env={**os.environ, "TERM": "xterm-256color"},
                start_new_session=True,
                preexec_fn=_controlling_tty,
            )
        finally:
            os.close(slave)
        os.set_blocking(self.fd, False)
        self._loop = asyncio.get_running_loop()

    async def send(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                view = view[os.write(self.fd, view) :]
            except BlockingIOError:
                await self._ready(writing=True)

    async def receive(self) -> bytes:
        while True:
            try:
                data = os.read(self.fd, READ_BYTES)
            except BlockingIOError:
                await self._ready(writing=False)
                continue
            except OSError:  # EIO: the shell has gone
                data = b""
            if not data:
                raise EOFError("the shell has exited")
            return data

    async def _ready(self, *, writing: bool) -> None:
        """Wait until the PTY can be written (or read) without blocking."""
        ready: asyncio.Future[None] = self._loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        add, remove = (
            (self._loop.add_writer, self._loop.remove_writer)
            if writing
            else (self._loop.add_reader, self._loop.remove_reader)
        )
        add(self.fd, wake)
        try:
            await ready
        finally:
            remove(self.fd)

    async def close(self) -> None:
        os.close(self.fd)  # the shell gets SIGHUP
        try:
            self.process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
