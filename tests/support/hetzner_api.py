"""A fake Hetzner Cloud API on 127.0.0.1, for the Hetzner provider's tests, the reconcilers' and
the benchmark: the part of the API `hcloud` uses, in Hetzner's shapes, with failures a test
injects and servers that boot into real node daemons.

    with fake_hetzner_api(tmp_path / "hetzner", create_seconds=10, boot_seconds=20) as api:
        provider = HetznerProvider.open(api.settings(), api.token)

It answers under `/v1` as tests/support/hetzner_cloud.py says, to `Authorization: Bearer
<api.token>` only (another token: 401 `unauthorized`), with RateLimit-* headers on every answer.

A server's life: POST answers at once with the server `initializing` and a running
`create_server` action; `create_seconds` later the action succeeds and the server is `running`;
`boot_seconds` after that it "boots": it reports the bootstrap steps its user data names to
the progress URL (best-effort, as the real script does), optionally downloads the node package
(`fetch_package`), and runs a real node daemon joined with the token from its user data
(tests/support/cloudnodes.py), with `node_env` added to its environment (its runtimes and their
settings: `CORRAL_NODE_RUNTIMES`, `CORRAL_NODE_RUNTIME_SETTINGS`). Only a control plane on
this machine's loopback is dialled; another URL leaves the server with a `boot.error`.
DELETE stops the node daemon (by PID), and `delete_seconds` later the server is gone and its
firewalls are free. `boot_nodes = False` leaves the machines without a node daemon.

Failures, each for the next `count` matching requests (method and an fnmatch pattern on the
path after /v1, e.g. "/servers" or "/servers/*"): `fail_next` (a 5xx or any error, or a
non-JSON body as a proxy sends), `hang_next` (the answer waits `seconds`, before the request is
handled or after: then the server is made although the client gave up), `rate_limit_next`
(429 `rate_limit_exceeded`). `never_finish("create_server")` leaves those actions running for
ever. `hold_next_create()` stops a POST /servers right after the server is recorded, before
the answer is sent, until the test releases it (for killing the control plane there).

What it holds: `servers`, `firewalls` (copies), `requests` (every request and its status),
`server(id)`; `describe()` for a failing wait's context. Everything it started is stopped by
`stop` (the context manager's exit): held requests released, the server thread joined, every
node daemon stopped by PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import fnmatch
import json
import re
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from corral.settings import HetznerSettings, ProvidersSettings
from tests.support.cloudnodes import BootedNode, BootOptions, boot
from tests.support.hetzner_cloud import (
    RATE_LIMIT,
    ApiError,
    FakeAction,
    FakeFirewall,
    FakeServer,
    HetznerCloud,
    RateLimited,
)
from tests.support.hetzner_faults import HeldCreate, Injection, RecordedRequest
from tests.support.waits import eventually_sync

__all__ = [
    "FakeAction",
    "FakeFirewall",
    "FakeHetznerApi",
    "FakeServer",
    "HeldCreate",
    "RecordedRequest",
    "fake_hetzner_api",
]

START_SECONDS = 30.0
STOP_SECONDS = 30.0
_METHODS = ["GET", "POST", "PUT", "DELETE"]
_SERVER = r"/servers/(\d+)"


class FakeHetznerApi:
    """The fake API; `start` and `stop` are synchronous and bounded, and every knob and
    injection may be set from any thread (the API runs in a thread of its own)."""

    def __init__(
        self,
        base: Path,
        *,
        create_seconds: float = 0.0,
        boot_seconds: float = 0.0,
        delete_seconds: float = 0.0,
        latency_seconds: float = 0.0,
        boot_nodes: bool = True,
        node_env: dict[str, str] | None = None,
        report_steps: bool = True,
        fetch_package: bool = False,
        restart_seconds: float = 1.0,
        max_restarts: int = 100,
    ) -> None:
        self.base = base
        self.token = "hz-" + secrets.token_hex(24)
        self.create_seconds = create_seconds
        self.boot_seconds = boot_seconds
        self.delete_seconds = delete_seconds
        self.latency_seconds = latency_seconds
        """Every request waits this long before it is handled, as the real API's take time."""
        self.boot_nodes = boot_nodes
        self.node_env: dict[str, str] = dict(node_env or {})
        self.report_steps = report_steps
        self.fetch_package = fetch_package
        self.restart_seconds = restart_seconds
        """How long a failed node daemon waits before it is started again (systemd's
        RestartSec), and how many times at most."""
        self.max_restarts = max_restarts
        self.cloud = HetznerCloud()
        """What the API holds (servers, firewalls, actions) and how it answers."""
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._injections: list[Injection] = []
        self._holds: list[HeldCreate] = []
        self._nodes: list[BootedNode] = []
        self._lives: dict[int, asyncio.Task[None]] = {}
        self._removals: set[asyncio.Task[None]] = set()
        self._closing = False
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def endpoint(self) -> str:
        """The API's base URL, as `[providers.hetzner] api_endpoint` takes it."""
        return f"http://127.0.0.1:{self.port}/v1"

    def settings(self, **hetzner: Any) -> ProvidersSettings:
        """Provider settings pointing at this API, quick to poll; `hetzner` overrides."""
        values: dict[str, Any] = {
            "api_endpoint": self.endpoint,
            "request_timeout_seconds": 5.0,
            "action_timeout_seconds": 60.0,
            "poll_interval_seconds": 0.05,
        }
        values.update(hetzner)
        return ProvidersSettings(hetzner=HetznerSettings(**values))

    def server_env(self, **hetzner: Any) -> dict[str, str]:
        """The same settings as a control plane process's environment variables."""
        settings = self.settings(**hetzner).hetzner
        return {
            # Its machines boot on this host: the control plane's loopback URL reaches it.
            "CORRAL_PROVIDERS__ALLOW_LOOPBACK_CONTROL_URL": "true",
            **{
                f"CORRAL_PROVIDERS__HETZNER__{key.upper()}": str(value)
                for key, value in settings.model_dump().items()
            },
        }

    def start(self) -> FakeHetznerApi:
        self.base.mkdir(parents=True, exist_ok=True)
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port = self._socket.getsockname()[1]
        app = Starlette(routes=[Route("/v1/{path:path}", self._endpoint, methods=_METHODS)])
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_level="warning",
            access_log=False,
            http="h11",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        server, listening = self._server, self._socket

        async def serve() -> None:
            self._loop, self._stopping = asyncio.get_running_loop(), asyncio.Event()
            await server.serve(sockets=[listening])

        self._thread = threading.Thread(
            target=lambda: asyncio.run(serve()), name="fake-hetzner-api", daemon=True
        )
        self._thread.start()
        thread = self._thread

        def started() -> bool:
            if not thread.is_alive():
                raise RuntimeError("the fake Hetzner API exited while starting")
            return server.started

        try:
            eventually_sync(started, "the fake Hetzner API started", wait_seconds=START_SECONDS)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Release held creates, stop the API, then every node daemon it booted."""
        self._closing = True
        with self._lock:
            holds, nodes = list(self._holds), list(self._nodes)
        for hold in holds:
            hold.release()
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop has ended already
                self._loop.call_soon_threadsafe(self._stopping.set)
        thread, server = self._thread, self._server
        if thread is not None and server is not None:
            server.should_exit = True
            thread.join(STOP_SECONDS)
            if thread.is_alive():
                server.force_exit = True
                thread.join(STOP_SECONDS)
        for node in nodes:
            node.stop()
        if self._socket is not None:
            self._socket.close()
        self._thread = None
        if thread is not None and thread.is_alive():
            raise RuntimeError("the fake Hetzner API did not stop in time")

    # -- injected failures -------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        path: str,
        *,
        count: int = 1,
        status: int = 503,
        code: str | None = "unavailable",
        message: str = "service unavailable",
        text: str | None = None,
    ) -> None:
        """The next `count` matching requests answer `status` with Hetzner's error body, or
        with `text` as it is (a proxy's HTML page) when given."""
        self._inject(
            Injection(method, path, count, "fail", status, code, message, text),
        )

    def hang_next(
        self, method: str, path: str, *, seconds: float, count: int = 1, after: bool = False
    ) -> None:
        """The next `count` matching requests answer `seconds` late: before being handled,
        or (`after`) once handled, so that what they make exists though the client gave up."""
        self._inject(Injection(method, path, count, "hang", seconds=seconds, after=after))

    def rate_limit_next(
        self, method: str = "*", path: str = "*", *, count: int = 1, reset_seconds: int = 30
    ) -> None:
        """The next `count` matching requests answer 429 `rate_limit_exceeded`, with no
        requests remaining until `reset_seconds` from now."""
        injection = Injection(method, path, count, "rate_limit", 429, seconds=reset_seconds)
        self._inject(injection)

    def _inject(self, injection: Injection) -> None:
        injection.method = injection.method.upper()
        with self._lock:
            self._injections.append(injection)

    def never_finish(self, command: str) -> None:
        """Actions of this command (`create_server`, `delete_server`) stay running for ever."""
        with self.cloud.lock:
            self.cloud.stuck.add(command)

    def hold_next_create(self) -> HeldCreate:
        hold = HeldCreate()
        with self._lock:
            self._holds.append(hold)
        return hold

    # -- what it holds -----------------------------------------------------------------------

    @property
    def servers(self) -> list[FakeServer]:
        """Copies of the servers it holds (deleted ones are gone)."""
        return self.cloud.servers()

    def server(self, server_id: int) -> FakeServer | None:
        return self.cloud.server(server_id)

    @property
    def firewalls(self) -> list[FakeFirewall]:
        return self.cloud.firewalls()

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [copy.copy(request) for request in self._requests]

    def count(self, method: str, path: str) -> int:
        """How many requests matched `method` and the fnmatch pattern `path`."""
        return sum(
            1
            for r in self.requests
            if r.method == method.upper() and fnmatch.fnmatchcase(r.path, path)
        )

    def describe(self) -> str:
        """The servers and their node daemons' logs, for a failing wait's context."""
        lines = []
        for server in self.servers:
            lines.append(f"--- server {server.id} {server.name} {server.status}: {server.boot}")
            if server.boot.node is not None:
                lines.append(server.boot.node.stderr()[-3000:])
        return "\n".join(lines) or "--- no servers"

    # -- the HTTP side -----------------------------------------------------------------------

    async def _endpoint(self, request: Request) -> Response:
        method, path = request.method, "/" + request.path_params["path"]
        recorded = RecordedRequest(method, path, request.url.query)
        with self._lock:
            self._requests.append(recorded)
        try:
            response = await self._answer(request, method, path)
        except ApiError as exc:
            body = {"error": {"code": exc.code, "message": exc.message, "details": exc.details}}
            response = _json(exc.status, body)
            if isinstance(exc, RateLimited):
                response.headers["RateLimit-Remaining"] = "0"
                response.headers["RateLimit-Reset"] = str(exc.reset)
        with self._lock:
            recorded.status = response.status_code
            remaining = max(0, RATE_LIMIT - len(self._requests))
        response.headers.setdefault("RateLimit-Limit", str(RATE_LIMIT))
        response.headers.setdefault("RateLimit-Remaining", str(remaining))
        response.headers.setdefault("RateLimit-Reset", str(int(time.time()) + 1))
        return response

    async def _answer(self, request: Request, method: str, path: str) -> Response:
        if self.latency_seconds:
            await asyncio.sleep(self.latency_seconds)
        if request.headers.get("authorization") != f"Bearer {self.token}":
            raise ApiError(401, "unauthorized", "unable to authenticate")
        injection = self._take_injection(method, path)
        if injection is not None and injection.kind == "fail":
            if injection.text is not None:
                return Response(injection.text, injection.status, media_type="text/html")
            raise ApiError(injection.status, injection.code or "error", injection.message)
        if injection is not None and injection.kind == "rate_limit":
            raise RateLimited(int(time.time() + injection.seconds))
        if injection is not None and not injection.after:
            await self._pause(injection.seconds)
        body = None
        if method in ("POST", "PUT"):
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                raise ApiError(400, "json_error", "the body is not JSON") from None
        response = await self._route(method, path, request.query_params, body)
        if injection is not None and injection.after:
            await self._pause(injection.seconds)
        return response

    async def _pause(self, seconds: float) -> None:
        """A hang: `seconds`, or until the API stops."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _take_injection(self, method: str, path: str) -> Injection | None:
        with self._lock:
            for injection in self._injections:
                if injection.remaining > 0 and injection.matches(method, path):
                    injection.remaining -= 1
                    return injection
        return None

    async def _route(
        self, method: str, path: str, query: Any, body: dict[str, Any] | None
    ) -> Response:
        """Making and deleting servers take time, and a create may be held; the cloud
        answers everything else at once."""
        deleted = re.fullmatch(_SERVER, path)
        answer: dict[str, Any] | None
        if method == "POST" and path == "/servers":
            status, answer = 201, await self._create_server(body or {})
        elif method == "DELETE" and deleted:
            status, answer = 201, self._delete_server(int(deleted.group(1)))
        else:
            status, answer = self.cloud.route(method, path, query, body)
        return Response(status_code=204) if answer is None else _json(status, answer)

    # -- servers in time -----------------------------------------------------------------------

    async def _create_server(self, body: dict[str, Any]) -> dict[str, Any]:
        server, actions = self.cloud.create_server(body)
        self._lives[server.id] = asyncio.create_task(self._life(server, actions))
        with self._lock:
            hold = self._holds.pop(0) if self._holds else None
        if hold is not None:
            await hold.hold(server.id)
        return self.cloud.created(server, actions)

    async def _life(self, server: FakeServer, actions: list[FakeAction]) -> None:
        """Made `create_seconds` after the request, booted `boot_seconds` after that."""
        await asyncio.sleep(self.create_seconds)
        if self.cloud.finish_creating(server, actions):
            await asyncio.sleep(self.boot_seconds)
            await self._boot(server)

    async def _boot(self, server: FakeServer) -> None:
        options = BootOptions(
            self.node_env,
            self.report_steps,
            self.fetch_package,
            self.boot_nodes,
            self.restart_seconds,
            self.max_restarts,
        )
        node = await boot(server.user_data, self.base / f"server-{server.id}", options, server.boot)
        if node is None or self._closing:
            return
        with self._lock:
            server.boot.node = node
            self._nodes.append(node)
        await node.supervise()

    def _delete_server(self, server_id: int) -> dict[str, Any]:
        server, action = self.cloud.delete_server(server_id)
        life = self._lives.pop(server_id, None)
        if life is not None:
            life.cancel()
        removal = asyncio.create_task(self._remove(server, action))
        self._removals.add(removal)
        removal.add_done_callback(self._removals.discard)
        return {"action": action.json()}

    async def _remove(self, server: FakeServer, action: FakeAction) -> None:
        """The machine goes off at once (its node daemon stopped by PID), and out of the
        project `delete_seconds` later."""
        if server.boot.node is not None:
            await asyncio.to_thread(server.boot.node.stop)
        await asyncio.sleep(self.delete_seconds)
        self.cloud.finish_deleting(server, action)


def _json(status: int, body: Any) -> Response:
    return Response(json.dumps(body), status, media_type="application/json")


@contextmanager
def fake_hetzner_api(base: Path, **knobs: Any) -> Iterator[FakeHetznerApi]:
    """A started `FakeHetznerApi` (knobs: see its constructor), stopped however the block
    ends; what it booted lives under `base`."""
    api = FakeHetznerApi(base, **knobs)
    api.start()
    try:
        yield api
    finally:
        api.stop()
