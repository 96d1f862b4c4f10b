"""`corral workspace shell`: the local terminal attached to a workspace terminal, like ssh.

Raw mode, window size on SIGWINCH, and `Enter ~ .` to detach (the terminal keeps running).
If the connection drops (a control plane restart), it reconnects from the last byte it showed,
so nothing is printed twice or lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import sys
import termios
import tty
from collections.abc import Iterator

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from corral.cli.output import CliError
from corral.control.api.closecodes import FINAL_CLOSE_CODES

__all__ = ["attach"]

DETACH = b"~."
RECONNECT_ATTEMPTS = 10
RECONNECT_DELAY_SECONDS = 1.0
MAX_INPUT_CHUNK = 32 * 1024


def ws_url(base_url: str, workspace_id: str, terminal_id: str, offset: int | None) -> str:
    scheme, _, rest = base_url.rstrip("/").partition("://")
    ws = "wss" if scheme == "https" else "ws"
    query = f"?offset={offset}" if offset is not None else ""
    return f"{ws}://{rest}/api/v1/workspaces/{workspace_id}/terminals/{terminal_id}/ws{query}"


@contextlib.contextmanager
def raw_terminal(fd: int) -> Iterator[None]:
    if not os.isatty(fd):
        yield
        return
    saved = termios.tcgetattr(fd)
    try:
        tty.setraw(fd)
        yield
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


class _Session:
    def __init__(self, base_url: str, token: str, workspace_id: str, terminal_id: str) -> None:
        self.base_url, self.token = base_url, token
        self.workspace_id, self.terminal_id = workspace_id, terminal_id
        self.offset: int | None = None
        self.detached = False
        self.ended: str | None = None
        self._after_newline = True
        self._pending_tilde = False

    def _filter_input(self, data: bytes) -> bytes:
        """Pass keystrokes through, watching for Enter ~ . (the detach sequence)."""
        out = bytearray()
        for byte in data:
            char = bytes([byte])
            if self._pending_tilde:
                self._pending_tilde = False
                if char == b".":
                    self.detached = True
                    return bytes(out)
                out += b"~"
            if self._after_newline and char == b"~":
                self._pending_tilde = True
                self._after_newline = False
                continue
            out += char
            self._after_newline = char in (b"\r", b"\n")
        return bytes(out)

    async def run(self) -> None:
        attempts = 0
        while not self.detached and self.ended is None:
            try:
                async with connect(
                    ws_url(self.base_url, self.workspace_id, self.terminal_id, self.offset),
                    additional_headers={"Authorization": f"Bearer {self.token}"},
                    max_size=2**20,
                ) as connection:
                    attempts = 0
                    await self._serve(connection)
            except InvalidStatus as exc:
                raise CliError(
                    f"cannot attach: the server answered {exc.response.status_code}"
                ) from None
            except (OSError, ConnectionClosed, TimeoutError) as exc:
                if (
                    isinstance(exc, ConnectionClosed)
                    and exc.rcvd
                    and exc.rcvd.code in FINAL_CLOSE_CODES
                ):
                    self.ended = exc.rcvd.reason or "closed"
                    break
                attempts += 1
                if attempts > RECONNECT_ATTEMPTS:
                    raise CliError(
                        "lost the connection to Corral; the terminal keeps running, "
                        "attach again with `corral workspace shell`"
                    ) from None
                sys.stderr.write("\r\n[corral: connection lost, reconnecting]\r\n")
                sys.stderr.flush()
                await asyncio.sleep(RECONNECT_DELAY_SECONDS)

    async def _serve(self, connection: ClientConnection) -> None:
        first = json.loads(await connection.recv())
        self.offset = int(first["offset"])  # the server's word: it may start later than asked
        await self._send_size(connection)
        loop = asyncio.get_running_loop()
        stdin = sys.stdin.fileno()
        inputs: asyncio.Queue[bytes] = asyncio.Queue()

        def read_stdin() -> None:
            try:
                data = os.read(stdin, MAX_INPUT_CHUNK)
            except OSError:
                data = b""
            if not data:  # end of input: stop watching, keep showing output
                loop.remove_reader(stdin)
            inputs.put_nowait(data)

        try:
            loop.add_reader(stdin, read_stdin)
        except PermissionError:  # e.g. /dev/null, which cannot be polled: no input
            inputs.put_nowait(b"")
        with contextlib.suppress(NotImplementedError, ValueError):
            loop.add_signal_handler(
                signal.SIGWINCH, lambda: loop.create_task(self._send_size(connection))
            )
        pump = asyncio.create_task(self._pump_input(connection, inputs))
        try:
            async for message in connection:
                if isinstance(message, bytes):
                    _write_all(sys.stdout.fileno(), message)
                    self.offset = (self.offset or 0) + len(message)
            self.ended = connection.close_reason or "closed"
        except ConnectionClosed as exc:
            if exc.rcvd is not None and exc.rcvd.code in FINAL_CLOSE_CODES:
                self.ended = exc.rcvd.reason or "closed"
            elif not self.detached:
                raise
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(stdin)
            with contextlib.suppress(NotImplementedError, ValueError):
                loop.remove_signal_handler(signal.SIGWINCH)
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)

    async def _pump_input(self, connection: ClientConnection, inputs: asyncio.Queue[bytes]) -> None:
        while True:
            data = await inputs.get()
            if not data:  # stdin closed: keep showing output until the terminal ends
                return
            filtered = self._filter_input(data)
            if filtered:
                await connection.send(filtered)
            if self.detached:
                await connection.close(1000, "detached")
                return

    async def _send_size(self, connection: ClientConnection) -> None:
        size = shutil.get_terminal_size()
        with contextlib.suppress(ConnectionClosed):
            await connection.send(
                json.dumps({"type": "resize", "cols": size.columns, "rows": size.lines})
            )


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def attach(base_url: str, token: str, workspace_id: str, terminal_id: str) -> str:
    """Attach until detached or the terminal ends; return what ended it."""
    session = _Session(base_url, token, workspace_id, terminal_id)
    with raw_terminal(sys.stdin.fileno()):
        asyncio.run(session.run())
    return "detached" if session.detached else (session.ended or "closed")
