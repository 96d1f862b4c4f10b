"""The REST API under /api/v1: one thin router per resource, all mounted here.

Each router carries the full prefix itself, so a route's `path` is the whole template (the
access log and metrics label requests with it). The error statuses of every operation are added
to the OpenAPI document in one place, `corral.control.api.openapi`."""

from __future__ import annotations

from fastapi import APIRouter

from corral.control.api import (
    activity,
    agents,
    auth,
    credentials,
    github,
    githubwebhooks,
    live,
    nodelink,
    nodes,
    permissions,
    projects,
    providers,
    sessions,
    terminals,
    tokens,
    users,
    workspaces,
)
from corral.control.api.constants import API_PREFIX

__all__ = ["API_PREFIX", "api_router"]

api_router = APIRouter()
for module in (
    auth,
    tokens,
    users,
    credentials,
    github,
    projects,
    nodes,
    providers,
    nodelink,
    workspaces,
    terminals,
    agents,
    sessions,
    permissions,
    activity,
    live,
    githubwebhooks,
):
    api_router.include_router(module.router)
