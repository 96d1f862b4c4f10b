"""Limits uvicorn's HTTP/1.1 server lacks: a bounded request head, header count and URL, a
deadline for the head (slow clients), and a cap on open connections.

Written by hand because no option of uvicorn or httptools provides them. uvicorn's httptools
protocol feeds every byte it reads to llhttp, and httptools keeps a header's name and value in
bytes objects that grow by concatenation until the header ends: nothing bounds them, so one
connection could hold as much memory as its client sends (and stall the event loop copying it).
Nor does anything time out a head that trickles in: uvicorn's keep-alive timer runs only between
requests. h11, uvicorn's other parser, bounds its buffer (`h11_max_incomplete_event_size`) but
answers 400, has neither a header count nor a deadline, and parses in Python.

The subclass below only counts and times; llhttp still does all the parsing. It feeds the parser
at most `max_request_head_bytes` of a head, so what httptools buffers is bounded by the limit,
whatever the client sends. Each refusal answers in the API's error shape and closes the
connection:

    431 headers_too_large     the head is over max_request_head_bytes, or has too many fields
    414 url_too_long          the request target is over max_url_bytes
    408 request_timeout       the head was not complete within request_head_timeout_seconds
    503 too_many_connections  max_connections are open already (answered before reading)
"""

from __future__ import annotations

import asyncio
import http
import json
import logging
import time
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from corral.control.api.errors import error_body
from corral.settings import HttpSettings

__all__ = ["LimitedHttpToolsProtocol", "limited_http_protocol"]

log = logging.getLogger("corral.http")

LOG_EVERY_SECONDS = 10.0
"""At most one warning per kind of refusal in this long: a flood must not become a log flood."""


class _Refusal(Exception):
    """A request over a limit: raised from a parser callback to stop parsing it."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class LimitedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the limits in `limits` (see the module docstring).

    Use `limited_http_protocol(settings)`, which binds `limits`, as uvicorn's `http` class.
    """

    limits: ClassVar[HttpSettings]
    _last_logged: ClassVar[dict[str, float]] = {}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Whether the next bytes belong to a request head: from the connection's start, and
        # from the end of each request until the next head is complete.
        self._in_head = True
        self._head_bytes = 0
        self._head_started = False
        self._header_count = 0
        self._url_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None
        self._stopping: _Refusal | None = None
        self._refused = False

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(
                _Refusal(
                    503,
                    "too_many_connections",
                    "the server has too many open connections; try again shortly",
                )
            )
            return
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        # A head is fed in pieces no larger than what is left of its limit, so a head that is
        # too large is refused once the limit is reached, before the parser buffers more.
        # (Bytes that follow a request's body in the same read start the next head uncounted:
        # at most one read, 256 KiB, over the limit.)
        while data and self._in_head:
            room = self.limits.max_request_head_bytes - self._head_bytes
            if room <= 0:
                self._refuse(
                    _Refusal(
                        431,
                        "headers_too_large",
                        "the request's headers are over the "
                        f"{self.limits.max_request_head_bytes} byte limit",
                    )
                )
                return
            piece, data = data[:room], data[room:]
            self._head_bytes += len(piece)
            self._feed(piece)
            if self._refused or self.transport.get_protocol() is not self:
                return  # refused, or upgraded to a WebSocket that now owns the transport
        if data:
            self._feed(data)

    def _feed(self, data: bytes) -> None:
        # uvicorn's own `data_received`, except that a limit a parser callback hit is answered
        # with its own status rather than as a malformed request (400).
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
        except httptools.HttpParserError:
            if self._stopping is not None:
                self._refuse(self._stopping)
            else:
                self.logger.warning("Invalid HTTP request received.")
                self.send_400_response("Invalid HTTP request received.")

    # httptools parser callbacks

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_started = True
        self._header_count = self._url_bytes = 0
        if self._head_timer is None:
            self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        self._url_bytes += len(url)
        if self._url_bytes > self.limits.max_url_bytes:
            self._stopping = _Refusal(
                414, "url_too_long", f"the URL is over the {self.limits.max_url_bytes} byte limit"
            )
            raise self._stopping
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_header_count:
            self._stopping = _Refusal(
                431,
                "headers_too_large",
                f"the request has over {self.limits.max_header_count} header fields",
            )
            raise self._stopping
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._cancel_head_timer()
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._in_head, self._head_bytes, self._head_started = True, 0, False

    # The head's deadline

    def _arm_head_timer(self) -> None:
        self._head_timer = self.loop.call_later(
            self.limits.request_head_timeout_seconds, self._head_timed_out
        )

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self._in_head or self._refused or self.transport.is_closing():
            return
        if not self._head_started:
            self.transport.close()  # connected and sent nothing: there is no one to answer
            return
        seconds = self.limits.request_head_timeout_seconds
        self._refuse(
            _Refusal(
                408,
                "request_timeout",
                f"the request's headers did not arrive within {seconds:g} s",
            )
        )

    # Answering

    def _refuse(self, refusal: _Refusal) -> None:
        self._refused = True
        self._cancel_head_timer()
        self._log(refusal)
        # Mid-response to an earlier pipelined request, an answer would corrupt that response.
        if self.cycle is None or self.cycle.response_complete:
            self.transport.write(self._response(refusal))
        self.transport.close()

    def _response(self, refusal: _Refusal) -> bytes:
        body = json.dumps(error_body(refusal.code, refusal.message)).encode()
        phrase = http.HTTPStatus(refusal.status).phrase
        lines = [f"HTTP/1.1 {refusal.status} {phrase}".encode()]
        lines += [name + b": " + value for name, value in self.server_state.default_headers]
        lines += [
            b"content-type: application/json",
            b"content-length: " + str(len(body)).encode(),
            b"connection: close",
        ]
        return b"\r\n".join(lines) + b"\r\n\r\n" + body

    def _log(self, refusal: _Refusal) -> None:
        now = time.monotonic()
        if now - self._last_logged.get(refusal.code, -LOG_EVERY_SECONDS) < LOG_EVERY_SECONDS:
            return
        self._last_logged[refusal.code] = now
        client = self.client[0] if self.client else "unknown"
        log.warning(
            "refused a request from %s with %d: %s (similar refusals are not logged for %g s)",
            client,
            refusal.status,
            refusal.message,
            LOG_EVERY_SECONDS,
            extra={"status": refusal.status, "code": refusal.code, "client": client},
        )


def limited_http_protocol(limits: HttpSettings) -> type[LimitedHttpToolsProtocol]:
    """The protocol class for uvicorn's `http` option, with `limits` bound."""
    return type(
        "LimitedHttpToolsProtocol",
        (LimitedHttpToolsProtocol,),
        {"limits": limits, "_last_logged": {}},
    )
