"""Every error status an operation can answer, written into the OpenAPI document in one place.

Most statuses follow from an operation's shape, so they are derived from the document itself:

    401  every operation (no, wrong, expired or revoked credentials; a wrong token to sign in)
    403  operations that change something as a signed-in user (a browser's failed CSRF check)
    404  operations with a path parameter (unknown, or another user's object)
    409  operations that change something as a signed-in user (a name taken, the wrong state,
         or a change racing another)
    400  operations with a body (a body that cannot be read: not UTF-8, say)
    413  operations with a body (over `api.max_body_bytes`)
    422  operations with parameters or a body (each invalid field named)

The rest depend on what a route's service does, which its shape does not show; `SERVICE_ERRORS`
lists them by path, with the reason. Each is answered in the one error shape (`ErrorResponse`),
in place of FastAPI's own validation error model.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI

from corral.control.api.constants import API_PREFIX
from corral.control.schemas.common import ErrorResponse

__all__ = ["SERVICE_ERRORS", "SIGN_IN_OPERATIONS", "install_openapi"]

UNSAFE_METHODS = frozenset({"post", "put", "patch", "delete"})
SIGN_IN_OPERATIONS = frozenset(
    {
        ("post", f"{API_PREFIX}/auth/exchange"),
        ("post", f"{API_PREFIX}/nodes/join"),
        ("post", f"{API_PREFIX}/nodes/bootstrap"),
        ("get", f"{API_PREFIX}/nodes/package"),
    }
)
"""Operations that take a one-time token instead of a signed-in user (no CSRF check applies)."""

DESCRIPTIONS = {
    400: "The body could not be read (for example, it is not UTF-8)",
    401: "Not signed in, or a wrong, expired or revoked credential or token",
    403: "Not allowed for this role, or a failed CSRF check",
    404: "Unknown, or another user's object",
    409: "A name already taken, the object in the wrong state, or a conflicting change",
    413: "The body is over the size limit",
    422: "Invalid fields, each named in details",
    429: "Too many failed attempts; retry after Retry-After seconds",
    502: "An outside system (git, a node, a cloud provider) failed",
    503: "An outside system (git, a node, a cloud provider) did not answer in time, or is not "
    "connected; retry",
}

_A = API_PREFIX
SERVICE_ERRORS: list[tuple[frozenset[str], re.Pattern[str], frozenset[int], str]] = [
    (frozenset({"get"}), re.compile(rf"^{_A}/users(/|$)"), frozenset({403}), "owner only"),
    (
        frozenset({"get", "post"}),
        re.compile(rf"^{_A}/(auth/exchange|nodes/join|nodes/bootstrap|nodes/package)$"),
        frozenset({429}),
        "failed sign-in attempts are limited per address",
    ),
    (
        frozenset({"get", "post"}),
        re.compile(rf"^{_A}/(nodes|providers/\{{provider\}}/offer)$"),
        frozenset({404, 502, 503}),
        "a provider is asked for its sizes and prices with a credential named in the request",
    ),
    (
        frozenset({"post", "patch"}),
        re.compile(rf"^{_A}/projects(/\{{project\}})?$"),
        frozenset({502, 503}),
        "git is asked about the repository",
    ),
    (
        frozenset({"get", "post"}),
        re.compile(rf"^{_A}/(workspaces|sessions)$"),
        frozenset({404}),
        "a project, workspace or node is named in the query or body",
    ),
    (
        frozenset({"get", "post", "delete"}),
        re.compile(rf"^{_A}/workspaces/\{{workspace\}}/terminals"),
        frozenset({409, 502, 503}),
        "the workspace's node is asked: it must be running and linked, and may fail",
    ),
    (
        frozenset({"get"}),
        re.compile(rf"^{_A}/github/repositories$"),
        frozenset({422, 502, 503}),
        "the caller's GitHub account must be linked; GitHub is asked, and may fail",
    ),
    (
        frozenset({"delete"}),
        re.compile(rf"^{_A}/github/app$"),
        frozenset({404}),
        "there may be no App to forget",
    ),
    (
        UNSAFE_METHODS,
        re.compile(rf"^{_A}/(workspaces|sessions|permission-requests)"),
        frozenset({502, 503}),
        "the node is asked: it must be linked, and may fail",
    ),
]
"""(methods, path pattern, statuses, why): statuses that services raise for some operations."""


def error_statuses(method: str, path: str, operation: dict[str, Any]) -> set[int]:
    """The error statuses of one operation of the document (see the module docstring)."""
    statuses = {401}
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    if method in UNSAFE_METHODS and (method, path) not in SIGN_IN_OPERATIONS:
        statuses |= {403, 409}
    if any(parameter.get("in") == "path" for parameter in parameters):
        statuses.add(404)
    if has_body:
        statuses |= {400, 413}
    if has_body or parameters:
        statuses.add(422)
    for methods, pattern, extra, _why in SERVICE_ERRORS:
        if method in methods and pattern.match(path):
            statuses |= extra
    return statuses


def _describe_errors(document: dict[str, Any]) -> None:
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(error_schema.pop("$defs", {}))
    schemas["ErrorResponse"] = error_schema
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)  # FastAPI's own shape, which the API never answers
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if method not in UNSAFE_METHODS | {"get"}:
                continue
            responses = operation.setdefault("responses", {})
            for status in sorted(error_statuses(method, path, operation)):
                responses[str(status)] = {
                    "description": DESCRIPTIONS[status],
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/ErrorResponse"}
                        }
                    },
                }


def install_openapi(app: FastAPI) -> None:
    """Make `app.openapi()` (and so `/api/v1/openapi.json`) carry every error status."""
    generate: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            _describe_errors(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
