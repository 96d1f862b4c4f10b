"""One error shape for every failure: `{"error": {"code", "message", "details"}}`.

Domain errors map to status codes here and nowhere else. Validation errors name each field but
never echo the value sent (it may be a secret). Anything unexpected is logged once with its
traceback and answered with a generic message and the request id to quote; that happens in
`corral.control.middleware.RequestContextMiddleware`, which knows the request id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import (
    RequestValidationError,
    ValidationException,
    WebSocketRequestValidationError,
)
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

from corral import errors
from corral.control.api.closecodes import (
    CLOSE_CONFLICT,
    CLOSE_NOT_FOUND,
    CLOSE_POLICY_VIOLATION,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
)

__all__ = [
    "close_for_error",
    "close_reason",
    "error_body",
    "error_response",
    "install_error_handlers",
    "status_of",
]

STATUS_BY_ERROR: list[tuple[type[errors.CorralError], int]] = [
    (errors.NotFound, 404),
    (errors.Conflict, 409),
    (errors.InvalidInput, 422),
    (errors.Unauthenticated, 401),
    (errors.PermissionDenied, 403),
    (errors.RateLimited, 429),
    (errors.RetryableProviderError, 503),
    (errors.ProviderError, 502),
]
# The same for a viewer's WebSocket (terminals, session events, live updates), by close code.
CLOSE_CODE_BY_ERROR: list[tuple[type[errors.CorralError], int]] = [
    (errors.Unauthenticated, CLOSE_UNAUTHORIZED),
    (errors.PermissionDenied, CLOSE_UNAUTHORIZED),
    (errors.NotFound, CLOSE_NOT_FOUND),
    (errors.InvalidInput, CLOSE_POLICY_VIOLATION),
    (errors.RetryableProviderError, CLOSE_TRY_AGAIN),
]
CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "body_too_large",
    415: "unsupported_media_type",
    422: "invalid_input",
    429: "rate_limited",
}


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    """The one error shape; the HTTP server's own refusals (`corral.control.httplimits`) use it
    too, below the app."""
    return {"error": {"code": code, "message": message, "details": details}}


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(error_body(code, message, details), status_code=status, headers=headers)


MAX_CLOSE_REASON_BYTES = 123  # what fits a WebSocket close frame
MAX_FIELDS_IN_MESSAGE = 3


def _validation_details(exc: ValidationException) -> list[dict[str, str]]:
    return [
        {
            "field": ".".join(str(part) for part in error.get("loc", ())),
            "message": str(error.get("msg", "invalid")),
            "type": str(error.get("type", "invalid")),
        }
        for error in exc.errors()
    ]


def status_of(exc: errors.CorralError) -> int:
    """The HTTP status an error answers with, in the API and on the web pages alike."""
    if isinstance(exc, errors.ProviderError) and exc.retryable:
        return 503
    return next((code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls)), 500)


async def _corral_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, errors.CorralError)
    status = status_of(exc)
    headers = None
    if isinstance(exc, errors.RateLimited):
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return error_response(status, exc.reason, exc.message, exc.details, headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = _validation_details(exc)
    # The message names each field and what is wrong with it (never the value sent), so a
    # client that shows only the message, like the CLI, still says what to fix.
    shown = "; ".join(f"{d['field']}: {d['message']}" for d in details[:MAX_FIELDS_IN_MESSAGE])
    more = len(details) - MAX_FIELDS_IN_MESSAGE
    if more > 0:
        shown += f"; and {more} more (see details)"
    return error_response(422, "invalid_input", f"invalid {shown}", details)


def close_reason(text: str) -> str:
    """`text` cut to what a WebSocket close frame can carry, on a character boundary."""
    return text.encode()[:MAX_CLOSE_REASON_BYTES].decode(errors="ignore")


async def close_for_error(websocket: WebSocket, exc: errors.CorralError) -> None:
    """Close a viewer's WebSocket with the code for `exc` (anything else: 4409) and its message."""
    code = next((c for cls, c in CLOSE_CODE_BY_ERROR if isinstance(exc, cls)), CLOSE_CONFLICT)
    await websocket.close(code, close_reason(exc.message))


async def _websocket_validation_error(websocket: WebSocket, exc: Exception) -> None:
    # FastAPI's own handler closes before accepting, which the server turns into an HTTP 403 to
    # the handshake: it reads as an auth failure and names nothing. Accept, then close with
    # 1008 (policy violation) naming the parameter, as every WebSocket route's clients expect.
    assert isinstance(exc, WebSocketRequestValidationError)
    first = _validation_details(exc)[0]
    where, _, name = first["field"].partition(".")
    reason = f"invalid {where} parameter {name!r}: {first['message']}"
    await websocket.accept()
    await websocket.close(CLOSE_POLICY_VIOLATION, close_reason(reason))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = CODE_BY_STATUS.get(exc.status_code, "error")
    message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
    return error_response(exc.status_code, code, message, headers=exc.headers)


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    # Services check names before inserting; two requests racing past that check meet the
    # database's unique constraint instead, which is a conflict, not a failure of ours.
    return error_response(
        409,
        "conflict",
        "a conflicting change was made at the same moment (the name may have just been taken); "
        "try again",
    )


async def _database_busy(request: Request, exc: Exception) -> JSONResponse:
    # SQLite has one writer; one that waited out the busy timeout behind others (a flood of
    # session events and many requests at once) is a moment's overload, not a failure of ours.
    assert isinstance(exc, OperationalError)
    if "database is locked" not in str(exc.orig):
        raise exc
    return error_response(
        503,
        "database_busy",
        "the database is busy with other changes; try again in a moment",
        headers={"Retry-After": "1"},
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(errors.CorralError, _corral_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(WebSocketRequestValidationError, _websocket_validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(OperationalError, _database_busy)
