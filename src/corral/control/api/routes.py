"""Every router of the REST API, in one `APIRouter` the app mounts."""

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

__all__ = ["api_router"]
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
