"""Node daemons, the REST API and terminal WebSockets for integration tests on 127.0.0.1.

`NodeProcess` is one real `corral node run` process, writing to files rather than pipes and
stopped (or killed) only through its own PID. `Api` is a signed-in user's HTTP client. `Viewer`
is one terminal WebSocket, as a browser tab or `corral workspace shell` opens it. Every wait is
bounded, and a failure says what was awaited and shows the tail of the processes' logs.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from tests.support.processes import CORRAL, stop_process
from tests.support.waits import WAIT_SECONDS, Context, eventually_sync

__all__ = [
    "WAIT_SECONDS",
    "Api",
    "Closed",
    "NodeProcess",
    "Viewer",
    "close_of",
    "node_agent",
    "open_viewer",
    "tail",
    "terminal_url",
]

_STOP_SECONDS = 15.0
_WS_OPTIONS: dict[str, Any] = {
    "open_timeout": 10,
    "close_timeout": 5,
    "max_size": 2**20,
    "proxy": None,
    "ping_interval": None,
}


def tail(text: str, lines: int = 40) -> str:
    """The last `lines` lines of a log, leaving out the access log (one line per request)."""
    kept = [line for line in text.splitlines() if '"logger": "corral.access"' not in line]
    return "\n".join(kept[-lines:])


# --- Node daemon processes -------------------------------------------------------------------


class NodeProcess:
    """One `corral node run` process; joins first when given a token."""

    def __init__(
        self,
        data_dir: Path,
        env: dict[str, str],
        *,
        control_url: str | None = None,
        join_token: str | None = None,
        output_dir: Path | None = None,
        command: Sequence[str] = (CORRAL,),
    ) -> None:
        """`command` runs Corral: its own `corral`, or one run as another user (see
        tests/support/uservenv.py)."""
        self.data_dir = data_dir
        output_dir = output_dir or data_dir.parent
        output_dir.mkdir(parents=True, exist_ok=True)
        stem = f"node-{data_dir.name}-{time.monotonic_ns()}"
        self.stdout_path = output_dir / f"{stem}.stdout"
        self.stderr_path = output_dir / f"{stem}.stderr"
        argv = [*command, "node", "run", "--data-dir", str(data_dir)]
        if control_url is not None:
            argv += ["--control-url", control_url]
        if join_token is not None:
            argv += ["--join-token", join_token]
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err, env=env
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def describe(self) -> str:
        return (
            f"--- node daemon {self.pid} (exit code {self.process.poll()}) stderr:\n"
            f"{tail(self.stderr())}"
        )

    def credential(self) -> str:
        identity = json.loads((self.data_dir / "node.json").read_text())
        credential: str = identity["credential"]
        return credential

    def wait_exit(self, wait_seconds: float = WAIT_SECONDS) -> int:
        try:
            return self.process.wait(timeout=wait_seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"the node daemon did not exit within {wait_seconds:g} s\n{self.describe()}"
            ) from None

    def kill(self) -> None:
        """SIGKILL by PID, as a crash or the OOM killer would end it."""
        if self.process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.process.wait(timeout=_STOP_SECONDS)

    def stop(self) -> int:
        return stop_process(self.process, signal.SIGTERM, _STOP_SECONDS)


@contextmanager
def node_agent(
    data_dir: Path,
    env: dict[str, str],
    *,
    control_url: str | None = None,
    join_token: str | None = None,
    command: Sequence[str] = (CORRAL,),
) -> Iterator[NodeProcess]:
    """Run a node daemon for the block, and stop it by PID however the block ends."""
    agent = NodeProcess(
        data_dir, env, control_url=control_url, join_token=join_token, command=command
    )
    try:
        yield agent
    finally:
        agent.stop()


# --- The REST API -----------------------------------------------------------------------------


def exchange(base_url: str, link: str, *, verify: ssl.SSLContext | bool = True) -> str:
    """Trade a login or invite link for an API token, as `corral login` does."""
    token = parse_qs(urlsplit(link).query)["token"][0]
    with httpx.Client(base_url=base_url, timeout=30.0, trust_env=False, verify=verify) as client:
        response = client.post("/api/v1/auth/exchange", json={"token": token})
    assert response.status_code == 201, response.text
    api_token: str = response.json()["token"]["token"]
    return api_token


class Api:
    """The API as one signed-in user (a bearer token), answering parsed JSON."""

    def __init__(
        self,
        base_url: str,
        token: str,
        context: Context = lambda: "",
        *,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.base_url = base_url
        self.token = token
        self.context = context
        self.client = httpx.Client(
            base_url=f"{base_url}/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30.0,
            trust_env=False,
            verify=verify,
        )

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def close(self) -> None:
        self.client.close()

    def request(self, method: str, path: str, *, json: Any = None) -> httpx.Response:
        return self.client.request(method, path, json=json)

    def call(self, method: str, path: str, *, json: Any = None, expect: int = 200) -> Any:
        response = self.request(method, path, json=json)
        if response.status_code != expect:
            raise AssertionError(
                f"{method} {path} answered {response.status_code}, not {expect}: "
                f"{response.text}\n{self.context()}"
            )
        return response.json() if response.content else None

    def get(self, path: str) -> Any:
        return self.call("GET", path)

    def workspace_running(self, workspace_id: str, wait_seconds: float = WAIT_SECONDS) -> Any:
        """Wait for the workspace to be running; fail at once if it ends in error."""

        def running() -> Any:
            workspace = self.get(f"/workspaces/{workspace_id}")
            if workspace["state"] == "error":
                pytest.fail(f"workspace {workspace_id} failed: {workspace}\n{self.context()}")
            return workspace if workspace["state"] == "running" else None

        return eventually_sync(
            running,
            f"workspace {workspace_id} running",
            wait_seconds=wait_seconds,
            context=self.context,
        )

    def post(self, path: str, body: Any = None, *, expect: int = 201) -> Any:
        return self.call("POST", path, json=body if body is not None else {}, expect=expect)


# --- Terminal WebSockets ----------------------------------------------------------------------


def terminal_url(
    base_url: str,
    workspace_id: str,
    terminal_id: str,
    *,
    ticket: str | None = None,
    offset: int | None = None,
) -> str:
    query = "&".join(
        f"{key}={value}"
        for key, value in (("ticket", ticket), ("offset", offset))
        if value is not None
    )
    ws_base = base_url.replace("http://", "ws://", 1)
    path = f"/api/v1/workspaces/{workspace_id}/terminals/{terminal_id}/ws"
    return f"{ws_base}{path}{'?' + query if query else ''}"


class Viewer:
    """One attached terminal viewer: everything it received, in order."""

    def __init__(self, connection: ClientConnection, attached: dict[str, Any], context: Context):
        self.connection = connection
        self.attached = attached
        self.context = context
        self.output = bytearray()
        self.closed: Closed | None = None
        self._probes = 1

    @property
    def offset(self) -> int:
        """Where the bytes this viewer got start, in the terminal's whole output."""
        start: int = self.attached["offset"]
        return start

    def _fail(self, why: str) -> AssertionError:
        closed = f" (closed: {self.closed})" if self.closed else ""
        return AssertionError(
            f"{why}{closed}\n--- last bytes received:\n{bytes(self.output[-600:])!r}\n"
            f"{self.context()}"
        )

    async def receive(self, wait_seconds: float) -> bool:
        """Take one frame into `output`; False if none came in time."""
        try:
            async with asyncio.timeout(wait_seconds):
                message = await self.connection.recv()
        except TimeoutError:
            return False
        except ConnectionClosed as exc:
            self.closed = Closed.of(exc)
            raise self._fail("the terminal WebSocket closed") from None
        if isinstance(message, str):
            raise self._fail(f"unexpected text frame {message[:200]!r}")
        self.output += message
        return True

    async def read_until(self, marker: bytes, wait_seconds: float = WAIT_SECONDS) -> int:
        """Read until `marker` has arrived; return the index just past it in `output`."""
        deadline = time.monotonic() + wait_seconds
        while (found := self.output.find(marker)) < 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await self.receive(remaining):
                raise self._fail(f"{marker!r} did not arrive within {wait_seconds:g} s")
        return found + len(marker)

    async def read_at_least(self, size: int, wait_seconds: float = WAIT_SECONDS) -> None:
        deadline = time.monotonic() + wait_seconds
        while len(self.output) < size:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not await self.receive(remaining):
                raise self._fail(f"{size} bytes did not arrive within {wait_seconds:g} s")

    async def drain(self, quiet_seconds: float = 0.3, wait_seconds: float = WAIT_SECONDS) -> None:
        """Read until nothing has come for `quiet_seconds` (a prompt settling)."""
        deadline = time.monotonic() + wait_seconds
        while await self.receive(quiet_seconds):
            if time.monotonic() > deadline:
                raise self._fail(f"output did not settle within {wait_seconds:g} s")

    async def wait_closed(self, wait_seconds: float = WAIT_SECONDS) -> Closed:
        """Read until the server closes the socket; return how it closed."""
        try:
            async with asyncio.timeout(wait_seconds):
                while True:
                    message = await self.connection.recv()
                    if isinstance(message, bytes):
                        self.output += message
        except ConnectionClosed as exc:
            self.closed = Closed.of(exc)
            return self.closed
        except TimeoutError:
            raise self._fail(f"the server did not close the socket in {wait_seconds:g} s") from None

    async def type(self, text: str) -> None:
        await self.connection.send(text.encode())

    async def run(self, commands: Sequence[str]) -> list[tuple[str, int]]:
        """Type each command into the shell and return what each printed and its exit status.

        Each command's output sits between markers the shell computes (`B$((100+n))B`), so the
        echoed command line never matches them.
        """
        first = self._probes
        for number, command in enumerate(commands, start=first):
            await self.type(f"echo B$((100+{number}))B; {command}; echo E$((100+{number}))E$?\n")
        self._probes += len(commands)
        await self.read_until(f"E{100 + self._probes - 1}E".encode())
        output = bytes(self.output).decode(errors="replace")
        results = []
        for number in range(first, self._probes):
            start = output.index(f"B{100 + number}B") + len(f"B{100 + number}B")
            end = output.index(f"E{100 + number}E", start)
            status = output[end + len(f"E{100 + number}E") :].split("\r\n", 1)[0]
            results.append((output[start:end], int(status)))
        return results

    async def resize(self, cols: int, rows: int) -> None:
        await self.connection.send(json.dumps({"type": "resize", "cols": cols, "rows": rows}))


class Closed:
    """How a WebSocket ended: the close code and reason the server sent (None if none)."""

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason

    @classmethod
    def of(cls, exc: ConnectionClosed) -> Closed:
        return cls(exc.rcvd.code, exc.rcvd.reason) if exc.rcvd else cls(None, "")

    def __repr__(self) -> str:
        return f"Closed({self.code}, {self.reason!r})"


@asynccontextmanager
async def open_viewer(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    context: Context = lambda: "",
    wait_seconds: float = WAIT_SECONDS,
) -> AsyncIterator[Viewer]:
    """Attach to a terminal and wait for its `attached` frame; close the socket on the way out."""
    async with connect(url, additional_headers=headers, **_WS_OPTIONS) as connection:
        try:
            async with asyncio.timeout(wait_seconds):
                first = await connection.recv()
        except ConnectionClosed as exc:
            raise AssertionError(
                f"the terminal WebSocket closed before attaching: {Closed.of(exc)}\n{context()}"
            ) from None
        except TimeoutError:
            raise AssertionError(
                f"no attached frame within {wait_seconds:g} s\n{context()}"
            ) from None
        assert isinstance(first, str), f"the first frame is not text: {first[:100]!r}"
        attached = json.loads(first)
        assert attached["type"] == "attached", attached
        yield Viewer(connection, attached, context)


async def close_of(
    url: str,
    *,
    headers: dict[str, str] | None = None,
    send: Sequence[str | bytes] = (),
    after: Callable[[ClientConnection], Awaitable[None]] | None = None,
    wait_seconds: float = WAIT_SECONDS,
    context: Context = lambda: "",
) -> tuple[Closed, list[str | bytes]]:
    """Open a WebSocket, send `send` (after `after`, if given), and read until the server closes
    it; return how it closed and the frames received before."""
    received: list[str | bytes] = []
    async with connect(url, additional_headers=headers, **_WS_OPTIONS) as connection:
        try:
            async with asyncio.timeout(wait_seconds):
                if after is not None:
                    await after(connection)
                for frame in send:
                    await connection.send(frame)
                while True:
                    received.append(await connection.recv())
        except ConnectionClosed as exc:
            return Closed.of(exc), received
        except TimeoutError:
            pass
    shown = [frame[:100] for frame in received[-5:]]
    raise AssertionError(
        f"the server did not close {url} within {wait_seconds:g} s: {shown}\n{context()}"
    )
