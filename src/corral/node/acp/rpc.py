"""JSON-RPC 2.0 over an agent's stdin and stdout, one message per line (ACP's stdio transport).

We speak it ourselves instead of through the ACP SDK's connection because a session host must
see every frame as it was sent (the SDK drops update kinds and fields its schema does not
know), bound what it reads (a line over `max_line_bytes` is an error, not a memory spike) and
keep order (the SDK handles each notification in a task of its own). The requests we act on are
validated against models of their own (`validated`, `corral.node.acp.requests`).

Notifications are handed to `on_notification` synchronously, in the order they arrived;
requests from the agent run as tasks, since answering one may wait for a user.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError

__all__ = ["AgentProtocolError", "AgentRpc", "RpcError", "validated"]

log = logging.getLogger("corral.node.acp")

READ_CHUNK_BYTES = 256 * 1024
_LONG_DIGITS = re.compile(rb"[0-9]{19}")
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
RESOURCE_NOT_FOUND = -32002

RequestHandler = Callable[[str, Any], Awaitable[Any]]
NotificationHandler = Callable[[str, Any], None]
ModelT = TypeVar("ModelT", bound=BaseModel)


def _parse(line: bytes) -> Any:
    """One line's JSON. orjson reads a stream of updates several times faster. The json module
    reads what orjson refuses but JSON readers commonly take (NaN, lone surrogates), and lines
    with a run of 19 digits or more, which may be an integer beyond 64 bits: orjson would make
    it a float and lose its last digits."""
    if _LONG_DIGITS.search(line) is None:
        try:
            return orjson.loads(line)
        except orjson.JSONDecodeError:
            pass
    return json.loads(line)


class AgentProtocolError(Exception):
    """The agent broke the transport (not JSON, an oversized line, not JSON-RPC): the session
    cannot go on."""


class RpcError(Exception):
    """An error answer, from the agent to our request or from our handler to the agent's."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def validated(model: type[ModelT], params: Any, what: str) -> ModelT:
    """The agent's `params` as `model` (see `corral.node.acp.requests`), or an
    invalid-params error naming `what` was invalid."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        raise RpcError(INVALID_PARAMS, f"invalid {what}: {exc.errors()[0]['msg']}") from None


class AgentRpc:
    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        on_request: RequestHandler,
        on_notification: NotificationHandler,
        max_line_bytes: int,
        ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`ready`, if given, is awaited before each read of the agent's output: while what the
        agent said cannot be carried away yet, it waits in the pipe, and the agent slows down."""
        self._reader = reader
        self._writer = writer
        self._on_request = on_request
        self._on_notification = on_notification
        self._max_line_bytes = max_line_bytes
        self._ready = ready
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed: str | None = None

    # -- sending -------------------------------------------------------------------------------

    async def _write(self, message: dict[str, Any]) -> None:
        if self._closed is not None:
            raise ConnectionError(self._closed)
        line = json.dumps(message, separators=(",", ":"), ensure_ascii=False) + "\n"
        self._writer.write(line.encode())
        try:
            await self._writer.drain()
        except (ConnectionError, RuntimeError) as exc:
            raise ConnectionError("the agent closed its input") from exc

    async def call(self, method: str, params: Any, *, timeout_seconds: float | None) -> Any:
        request_id = next(self._ids)
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._write(
                {"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
            )
            async with asyncio.timeout(timeout_seconds):
                return await future
        finally:
            self._pending.pop(request_id, None)

    async def notify(self, method: str, params: Any) -> None:
        await self._write({"jsonrpc": "2.0", "method": method, "params": params})

    # -- receiving -----------------------------------------------------------------------------

    async def run(self) -> None:
        """Read until the agent closes stdout. Raises `AgentProtocolError` on a bad line."""
        buffer = bytearray()
        try:
            while True:
                if self._ready is not None:
                    await self._ready()
                chunk = await self._reader.read(READ_CHUNK_BYTES)
                if not chunk:
                    if buffer.strip():
                        self._line(bytes(buffer))
                    return
                buffer += chunk
                start = 0
                while (end := buffer.find(b"\n", start)) >= 0:
                    line = bytes(buffer[start:end])
                    start = end + 1
                    if line.strip():
                        self._line(line)
                del buffer[:start]
                if len(buffer) > self._max_line_bytes:
                    raise AgentProtocolError(
                        f"the agent sent a line over {self._max_line_bytes // 1024} KiB"
                    )
        finally:
            self.close("the agent closed its output")

    def _line(self, line: bytes) -> None:
        if len(line) > self._max_line_bytes:
            raise AgentProtocolError(
                f"the agent sent a line over {self._max_line_bytes // 1024} KiB"
            )
        try:
            message = _parse(line)
        except ValueError:
            preview = line[:200].decode(errors="replace")
            raise AgentProtocolError(
                f"the agent wrote something that is not JSON: {preview!r}"
            ) from None
        if not isinstance(message, dict):
            raise AgentProtocolError("the agent sent a JSON value that is not a JSON-RPC message")
        if "method" in message:
            method = message["method"]
            if not isinstance(method, str):
                raise AgentProtocolError("the agent sent a method that is not a string")
            params = message.get("params")
            if "id" in message:
                self._start(self._answer(message["id"], method, params))
            else:
                self._on_notification(method, params)
        elif "id" in message:
            self._settle(message)
        else:
            raise AgentProtocolError("the agent sent a JSON-RPC message with no method and no id")

    def _settle(self, message: dict[str, Any]) -> None:
        future = self._pending.get(message["id"]) if isinstance(message["id"], int) else None
        if future is None or future.done():
            log.info("the agent answered a request that is not pending: %r", message["id"])
            return
        error = message.get("error")
        if error is not None:
            if not isinstance(error, dict):
                error = {"code": INTERNAL_ERROR, "message": str(error)}
            future.set_exception(
                RpcError(
                    int(error.get("code", INTERNAL_ERROR)),
                    str(error.get("message", "error")),
                    error.get("data"),
                )
            )
        else:
            future.set_result(message.get("result"))

    async def _answer(self, request_id: Any, method: str, params: Any) -> None:
        try:
            result = await self._on_request(method, params)
        except RpcError as exc:
            reply: dict[str, Any] = {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": exc.code, "message": exc.message},
            }
        except Exception:
            log.exception("answering the agent's %s failed", method)
            reply = {
                "jsonrpc": "2.0",
                "id": request_id,
                "error": {"code": INTERNAL_ERROR, "message": f"the client failed on {method}"},
            }
        else:
            reply = {"jsonrpc": "2.0", "id": request_id, "result": result}
        with contextlib.suppress(ConnectionError):
            await self._write(reply)

    def _start(self, coroutine: Awaitable[None]) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def close(self, reason: str) -> None:
        """Fail every pending call and stop answering; the process is the caller's to end."""
        if self._closed is not None:
            return
        self._closed = reason
        for future in self._pending.values():
            if not future.done():
                future.set_exception(ConnectionError(reason))
        for task in self._tasks:
            task.cancel()
