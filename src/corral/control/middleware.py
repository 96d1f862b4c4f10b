"""ASGI middleware: request ids, access log and metrics, and the request body size limit.

Written as plain ASGI (not `BaseHTTPMiddleware`) so that streaming and WebSockets pass through
untouched and no extra task is made per request.
"""

from __future__ import annotations

import logging
import re
import time

from prometheus_client import CollectorRegistry, Counter, Histogram
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from corral.control.api.errors import error_response
from corral.ids import new_id
from corral.logs import request_id_var

__all__ = ["BodyLimitMiddleware", "BodyTooLarge", "RequestContextMiddleware"]

log = logging.getLogger("corral.access")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestContextMiddleware:
    """Gives each request an id (kept from `X-Request-ID` when sane), logs it and counts it."""

    def __init__(self, app: ASGIApp, registry: CollectorRegistry) -> None:
        self.app = app
        self.requests = Counter(
            "corral_http_requests",
            "HTTP requests answered.",
            ["method", "route", "status"],
            registry=registry,
        )
        self.latency = Histogram(
            "corral_http_request_duration_seconds",
            "Time to answer an HTTP request.",
            ["method", "route"],
            registry=registry,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent_id = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = sent_id if _VALID_REQUEST_ID.match(sent_id) else new_id("req")
        token = request_id_var.set(request_id)
        status = 500
        started = time.perf_counter()

        status_sent = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Ours, not the user's: log it once here with its request id and answer generically.
            # Swallowed rather than re-raised, so the server does not log it a second time.
            log.exception(
                "unhandled error in %s %s",
                scope["method"],
                scope["path"],
                extra={"request_id": request_id},
            )
            if status_sent:
                raise
            status = 500
            response = error_response(
                500,
                "internal_error",
                f"Corral hit an internal error; quote request id {request_id} when reporting it",
            )
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            self.requests.labels(method, route, str(status)).inc()
            self.latency.labels(method, route).observe(elapsed)
            # The path only: query strings can carry login-link tokens.
            log.info(
                "%s %s %s",
                method,
                scope["path"],
                status,
                extra={
                    "method": method,
                    "path": scope["path"],
                    "route": route,
                    "status": status,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )
            request_id_var.reset(token)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is over the {limit} byte limit")


class BodyLimitMiddleware:
    """Refuses request bodies over `max_body_bytes`, whether or not Content-Length is sent.

    A declared length over the limit is answered at once; a body that grows past it while being
    read raises `BodyTooLarge` inside the route, where the error handlers give it the error shape.
    """

    def __init__(self, app: ASGIApp, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            too_large = BodyTooLarge(self.max_body_bytes)
            response = error_response(413, "body_too_large", str(too_large.detail))
            await response(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        await self.app(scope, limited_receive, send)
