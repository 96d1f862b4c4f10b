"""The baseline for bench/api.py: a bare Starlette app on uvicorn answering a fixed JSON body.

It has no auth, no database and no middleware, so the ratio to it is what Corral's own request
path (token lookup, database query, schemas, logging, metrics) costs on top of the framework.
It listens on a free port of 127.0.0.1 and prints the port, alone on the first line of stdout.
"""

from __future__ import annotations

import socket

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

BODY = {
    "id": "usr_0",
    "name": "owner",
    "role": "owner",
    "state": "active",
    "created_at": "2026-01-01T00:00:00Z",
}


async def me(request: Request) -> JSONResponse:
    return JSONResponse(BODY)


app = Starlette(routes=[Route("/api/v1/me", me), Route("/healthz", me)])

if __name__ == "__main__":
    # Listening before the port is printed: a request sent at once waits for the app to start.
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    uvicorn.Server(uvicorn.Config(app, log_level="warning")).run(sockets=[listener])
