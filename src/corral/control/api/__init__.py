"""The REST API under /api/v1: one thin router per resource, all mounted here.

Each router carries the full prefix itself, so a route's `path` is the whole template (the
access log and metrics label requests with it)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from corral.control.api import (
    activity,
    agents,
    auth,
    credentials,
    live,
    nodes,
    permissions,
    projects,
    sessions,
    terminals,
    tokens,
    users,
    workspaces,
)
from corral.control.api.constants import API_PREFIX
from corral.control.schemas.common import ErrorResponse

__all__ = ["API_PREFIX", "api_router"]

# Every error answers with one shape; say so in the OpenAPI document, in place of FastAPI's own
# validation error model.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in [
        (401, "Not signed in, or a wrong, expired or revoked credential"),
        (403, "Not allowed for this role, or a failed CSRF check"),
        (404, "Unknown, or another user's object"),
        (409, "A name already taken, or the object is in the wrong state"),
        (413, "The body is over the size limit"),
        (422, "Invalid fields, each named in details"),
        (429, "Too many failed attempts"),
    ]
}

api_router = APIRouter()
for module in (
    auth,
    tokens,
    users,
    credentials,
    projects,
    nodes,
    workspaces,
    terminals,
    agents,
    sessions,
    permissions,
    activity,
    live,
):
    api_router.include_router(module.router, responses=ERROR_RESPONSES)
