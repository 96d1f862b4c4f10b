"""One end of the node link, the same code on both sides: requests, events and stream frames.

The peer is transport-agnostic: whoever owns the WebSocket feeds it received frames
(`handle_text`, `handle_bytes`) and gives it a `Transport` to send with. That keeps the
multiplexing testable over an in-memory pipe, and identical for the control plane and the node.

Streams carry bytes in both directions under one number. The peer does not buffer them: it
hands each chunk, credit grant and close to the `StreamHandler` that owns the stream, which
applies the flow control (see `corral.protocol.frames`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError

from corral.errors import (
    Conflict,
    CorralError,
    InvalidInput,
    NotFound,
    RetryableProviderError,
    TerminalProviderError,
)
from corral.protocol.frames import (
    MAX_STREAM_CHUNK_BYTES,
    MAX_TEXT_FRAME_BYTES,
    Event,
    ProtocolError,
    RemoteError,
    Request,
    Response,
    StreamClose,
    StreamWindow,
    decode_stream_chunk,
    encode_stream_chunk,
    parse_frame,
)
from corral.protocol.messages import EVENTS, METHODS, Body

__all__ = [
    "Caller",
    "Encoded",
    "Handler",
    "Peer",
    "PeerClosed",
    "RemoteCallError",
    "StreamHandler",
    "Transport",
    "response_result",
]

log = logging.getLogger("corral.protocol")

MAX_CONCURRENT_REQUESTS = 64
_CANONICAL_REQUEST = re.compile(
    r'\{"type":"request","id":(?P<id>[0-9]{1,15}),"method":"(?P<method>[a-z_.]{1,64})","params":'
)
"""The start of a request frame as `Peer.request` writes it."""
DEFAULT_REQUEST_TIMEOUT_SECONDS = 30.0

ResultT = TypeVar("ResultT", bound=Body)
Handler = Callable[[Any], Awaitable[Body]]
"""Serves one method: takes the validated params model, returns the result model."""
EventHandler = Callable[[str, Body], Awaitable[None]]


class Transport(Protocol):
    async def send_text(self, text: str) -> None: ...

    async def send_bytes(self, data: bytes) -> None: ...


class StreamHandler(Protocol):
    """Whoever owns a stream on this side: told of its bytes, credit and end."""

    async def on_data(self, stream: int, data: bytes) -> None: ...

    async def on_window(self, stream: int, granted: int) -> None: ...

    async def on_close(self, stream: int, reason: str) -> None: ...


class PeerClosed(RetryableProviderError):
    """The link went down (or the other side did not answer in time): try again later."""

    reason = "node_disconnected"


class RemoteCallError(TerminalProviderError):
    """The other side answered a request with an error of no more specific kind (its own
    failure, say); `reason` is its code. For the control plane that is an outside system failing
    (502), not a failure of its own (500)."""


# Errors keep their class across the link: a NotFound on the node is a NotFound (404) here.
_KINDS: list[tuple[str, type[CorralError]]] = [
    ("not_found", NotFound),
    ("invalid_input", InvalidInput),
    ("conflict", Conflict),
    ("unavailable", RetryableProviderError),
]


def error_kind(exc: CorralError) -> str:
    return next((kind for kind, cls in _KINDS if isinstance(exc, cls)), "error")


def remote_error(error: RemoteError) -> CorralError:
    cls = dict(_KINDS).get(error.kind, RemoteCallError)
    return cls(error.message, reason=error.code)


def response_result(response: Response, result_model: type[Body], sender: str, method: str) -> Body:
    """The result a response frame carries, validated; its error raised as a `CorralError`."""
    if response.error is not None:
        raise remote_error(response.error)
    try:
        return result_model.model_validate(response.result or {})
    except ValidationError:
        raise ProtocolError(f"{sender} a malformed result for {method}") from None


@dataclass(frozen=True)
class Encoded:
    """Params serialized already, by a sender that holds them as JSON (the node's outbox keeps
    each session event's): sent as they are. The receiver validates them as `model`, as any."""

    model: type[Body]
    json: str


def params_json(method: str, params_model: type[Body], params: Body | Encoded) -> str:
    """The params' JSON, once they are checked to be what `method` takes."""
    if isinstance(params, Encoded):
        if not issubclass(params.model, params_model):
            raise TypeError(f"{method} takes {params_model.__name__}")
        return params.json
    if not isinstance(params, params_model):
        raise TypeError(f"{method} takes {params_model.__name__}")
    return params.model_dump_json()


class Caller:
    """What node link methods are called on: a `Peer`, and on the control plane a node linked
    here or to another replica. Each makes `request`; `call` is the same, typed for the caller."""

    methods: Mapping[str, tuple[type[Body], type[Body]]] = METHODS

    async def request(
        self, method: str, params: Body | Encoded, *, timeout_seconds: float | None = None
    ) -> Body:
        """Call `method` on the node link and return its result, validated as `methods` says."""
        raise NotImplementedError

    async def call(
        self,
        method: str,
        params: Body | Encoded,
        result: type[ResultT],
        *,
        timeout_seconds: float | None = None,
    ) -> ResultT:
        """`request`, typed: the caller names the result model the method set gives the method."""
        if self.methods[method][1] is not result:
            raise TypeError(f"{method} answers {self.methods[method][1].__name__}")
        answer = await self.request(method, params, timeout_seconds=timeout_seconds)
        assert isinstance(answer, result)  # validated as the method's result model by request
        return answer


class Peer(Caller):
    def __init__(
        self,
        transport: Transport,
        *,
        handlers: dict[str, Handler] | None = None,
        on_event: EventHandler | None = None,
        streams: StreamHandler | None = None,
        name: str = "peer",
        methods: Mapping[str, tuple[type[Body], type[Body]]] = METHODS,
        events: Mapping[str, type[Body]] = EVENTS,
    ) -> None:
        """`methods` and `events` are what either side may send: the node link's by default."""
        self._transport = transport
        self._handlers = handlers or {}
        self._on_event = on_event
        self._streams = streams
        self._name = name
        self.methods = methods
        self._events = events
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[Response]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._send_lock = asyncio.Lock()
        self._closed: str | None = None

    # -- sending -----------------------------------------------------------------------------

    async def _send_text(self, frame: BaseModel | str) -> None:
        if self._closed is not None:
            raise PeerClosed(self._closed)
        text = frame if isinstance(frame, str) else frame.model_dump_json()
        async with self._send_lock:
            await self._transport.send_text(text)

    async def request(
        self, method: str, params: Body | Encoded, *, timeout_seconds: float | None = None
    ) -> Body:
        """Call `method` on the other side and return its validated result."""
        params_model, result_model = self.methods[method]
        encoded = params_json(method, params_model, params)
        request_id = next(self._ids)
        future: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            # The `Request` frame, written around the params' own JSON: building it as a model
            # would turn the params into Python objects and back (costly for event batches).
            await self._send_text(
                f'{{"type":"request","id":{request_id},"method":{json.dumps(method)},'
                f'"params":{encoded}}}'
            )
            timeout = (
                DEFAULT_REQUEST_TIMEOUT_SECONDS if timeout_seconds is None else timeout_seconds
            )
            try:
                response = await asyncio.wait_for(future, timeout)
            except TimeoutError:
                raise PeerClosed(
                    f"{self._name} did not answer {method} within {timeout:g} s",
                    reason="node_timeout",
                ) from None
        finally:
            self._pending.pop(request_id, None)
        return response_result(response, result_model, f"{self._name} sent", method)

    async def notify(self, name: str, params: Body) -> None:
        if not isinstance(params, self._events[name]):
            raise TypeError(f"event {name} takes {self._events[name].__name__}")
        await self._send_text(Event(name=name, params=params.model_dump(mode="json")))

    async def send_stream(self, stream: int, data: bytes) -> None:
        """Send bytes on a stream, split into chunks the other side accepts."""
        for start in range(0, len(data), MAX_STREAM_CHUNK_BYTES):
            chunk = encode_stream_chunk(stream, data[start : start + MAX_STREAM_CHUNK_BYTES])
            if self._closed is not None:
                raise PeerClosed(self._closed)
            async with self._send_lock:
                await self._transport.send_bytes(chunk)

    async def grant(self, stream: int, granted: int) -> None:
        await self._send_text(StreamWindow(stream=stream, bytes=granted))

    async def close_stream(self, stream: int, reason: str = "") -> None:
        with contextlib.suppress(PeerClosed):
            await self._send_text(StreamClose(stream=stream, reason=reason[:500]))

    # -- receiving ---------------------------------------------------------------------------

    async def handle_text(self, text: str | bytes) -> None:
        """Act on one received text frame; raises `ProtocolError` if the peer misbehaves."""
        if self._closed is not None:
            return
        fast = self._canonical_request(text)
        if fast is not None:
            await self._take_request(*fast)
            return
        frame = parse_frame(text)
        if isinstance(frame, Response):
            future = self._pending.get(frame.id)
            if future is not None and not future.done():
                future.set_result(frame)
        elif isinstance(frame, Request):
            await self._take_request(frame.id, frame.method, frame.params)
        elif isinstance(frame, Event):
            await self._dispatch_event(frame)
        elif isinstance(frame, StreamWindow):
            if self._streams is not None:
                await self._streams.on_window(frame.stream, frame.bytes)
        elif isinstance(frame, StreamClose):
            if self._streams is not None:
                await self._streams.on_close(frame.stream, frame.reason)
        else:
            raise ProtocolError(f"unexpected {frame.type} frame after the handshake")

    async def handle_bytes(self, data: bytes) -> None:
        if self._closed is not None:
            return
        stream, chunk = decode_stream_chunk(data)
        if self._streams is not None:
            await self._streams.on_data(stream, chunk)

    async def _dispatch_event(self, frame: Event) -> None:
        model = self._events.get(frame.name)
        if model is None:
            raise ProtocolError(f"unknown event {frame.name!r}")
        try:
            params = model.model_validate(frame.params)
        except ValidationError:
            raise ProtocolError(f"malformed {frame.name} event") from None
        if self._on_event is not None:
            await self._on_event(frame.name, params)

    def _canonical_request(self, text: str | bytes) -> tuple[int, str, Body] | None:
        """A request frame exactly as `request` writes it, its params validated straight from
        their JSON; None for any other frame, which `parse_frame` reads.

        The params of most requests are small, but a session event batch holds up to a
        thousand events: validating them from the frame's JSON, not from the Python objects
        a parse of the whole frame makes first, halves what the control plane spends on them.
        Anything this does not accept (other key orders or spacing, a field after the params,
        invalid params) goes the general way, which says what is wrong."""
        if not isinstance(text, str):
            return None
        if (
            len(text) > MAX_TEXT_FRAME_BYTES // 4
            and len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_FRAME_BYTES
        ):
            return None
        match = _CANONICAL_REQUEST.match(text)
        if match is None or not text.endswith("}"):
            return None
        method = match["method"]
        if method not in self.methods or method not in self._handlers:
            return None
        try:
            params = self.methods[method][0].model_validate_json(text[match.end() : -1])
        except ValidationError:
            return None
        return int(match["id"]), method, params

    async def _take_request(
        self, request_id: int, method: str, params: Body | dict[str, Any]
    ) -> None:
        if len(self._tasks) >= MAX_CONCURRENT_REQUESTS:
            await self._answer_error(
                request_id, "busy", "too many requests in flight", "unavailable"
            )
            return
        self._spawn(self._serve(request_id, method, params))

    async def _serve(self, request_id: int, method: str, params: Body | dict[str, Any]) -> None:
        """Answer a request whose params are validated already, or are to be."""
        handler = self._handlers.get(method)
        if handler is None or method not in self.methods:
            await self._answer_error(request_id, "unknown_method", f"no method {method}")
            return
        params_model, _ = self.methods[method]
        if isinstance(params, dict):
            try:
                params = params_model.model_validate(params)
            except ValidationError as exc:
                fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
                await self._answer_error(
                    request_id, "invalid_params", f"invalid params: {fields}", "invalid_input"
                )
                return
        try:
            result = await handler(params)
        except CorralError as exc:
            await self._answer_error(request_id, exc.reason, exc.message, error_kind(exc))
            return
        except Exception:
            log.exception("%s failed", method)
            await self._answer_error(request_id, "internal_error", f"{method} failed")
            return
        with contextlib.suppress(PeerClosed):
            await self._send_text(Response(id=request_id, result=result.model_dump(mode="json")))

    async def _answer_error(
        self, request_id: int, code: str, message: str, kind: str = "error"
    ) -> None:
        with contextlib.suppress(PeerClosed):
            await self._send_text(
                Response(
                    id=request_id,
                    error=RemoteError.model_validate(
                        {"code": code[:64], "message": message[:4000], "kind": kind}
                    ),
                )
            )

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        if self._closed is not None:
            coroutine.close()
            return
        task: asyncio.Task[None] = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- ending ------------------------------------------------------------------------------

    async def close(self, reason: str) -> None:
        """Fail every pending request and stop serving; idempotent."""
        if self._closed is not None:
            return
        self._closed = reason
        for future in self._pending.values():
            if not future.done():
                future.set_exception(PeerClosed(reason))
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    @property
    def closed(self) -> bool:
        return self._closed is not None
