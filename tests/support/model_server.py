"""A scripted model server: plays the LLM's side of four provider APIs so that real coding
agents (Claude Code, Codex, Gemini CLI, Qwen Code) run whole turns offline and
deterministically.

One server on one port speaks all four wire protocols, each with SSE streaming:

- Anthropic Messages: `POST /v1/messages` (and `/v1/messages/count_tokens`), for Claude Code;
- OpenAI Responses: `POST /v1/responses`, for Codex;
- Gemini: `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` and `:generateContent`
  (and `:countTokens`), for Gemini CLI;
- OpenAI Chat Completions: `POST /v1/chat/completions` (`chat.completion.chunk` frames, then
  `[DONE]`), for Qwen Code and any agent that speaks the older OpenAI API.

A test hands the server a *script*: replies consumed in order, one per model request that the
agent's main loop makes, whatever the protocol. One global queue rather than one per protocol,
because a test drives one agent against one server, and a single list reads like the
conversation it describes:

    script = [
        Reply("I'll edit it.", EditFile(str(path), "a = 1\\n", "a = 2\\n")),
        Reply("Done."),
    ]
    with serve_models(script) as models:
        ...  # point the agent at models.base_url, run a turn
        assert models.requests_with_tool_results()

The agent's main loop is told apart from its side requests (session titles, routing
classifiers, prompt suggestions) by the `tools` it offers: only a request that carries tools
takes the next reply (with named exceptions: background subagents and prompt suggestions that
carry tools too, see `model_dialects._SIDE_REQUEST_MARKERS`). A side request
gets a canned answer, shaped by its JSON schema when it asks for structured output, and never
consumes the script, so a test does not break when an agent version adds or drops one.

`EditFile` and `WriteFile` are translated to the file tools each agent offers (as listed in
the `tools` field of its requests): Claude's `Read` + `Edit`/`Write`, Codex's `apply_patch`
(freeform or JSON, whichever the request declares), Gemini's `replace`/`write_file`, Qwen's
`read_file` + `edit`/`write_file` (as OpenAI function calls). `ToolCall`
names any other tool directly. `Stall` starts streaming and then holds the response open until
the agent hangs up or the server stops, to test cancelling a turn mid-stream.

Every request is recorded (`ModelServer.requests`), with the tool results it carried back, so a
test can assert that the agent really ran the tool; `ModelServer.errors` lists what the script
could not answer. Unknown routes get a 404 and an error; `HEAD` probes get a 200.

This module is the server; the script's types live in `tests.support.model_script` (and are
exported here too), and each wire protocol's reading and encoding in
`tests.support.model_dialects`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeAlias

import uvicorn

from tests.support.model_dialects import (
    Call,
    Dialect,
    complete,
    dialect_of,
    is_side_request,
    model_of,
    side_reply_text,
    sse_frame,
    stream_events,
    tool_names,
    tool_results,
    translate,
)
from tests.support.model_script import (
    EditFile,
    Reply,
    ScriptItem,
    Stall,
    ToolCall,
    ToolResult,
    WriteFile,
)
from tests.support.waits import eventually_sync

__all__ = [
    "EditFile",
    "ModelServer",
    "RecordedRequest",
    "Reply",
    "ScriptItem",
    "Stall",
    "ToolCall",
    "ToolResult",
    "WriteFile",
    "serve_models",
]

Json: TypeAlias = Any
Receive: TypeAlias = Callable[[], Any]
Send: TypeAlias = Callable[[dict[str, Any]], Any]

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
EXHAUSTED_TEXT = "(the model server's script has no more replies)"


# --- what the server saw ------------------------------------------------------------------


@dataclass
class RecordedRequest:
    """One HTTP request the server received, and what it answered."""

    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: Json
    dialect: Dialect | None
    #: The script item this request consumed; None for side requests and unknown routes.
    reply: ScriptItem | None = None
    #: For a `Stall`: "disconnected" when the agent hung up, "stopped" when the server did.
    stall_ended: str | None = None

    @property
    def scripted(self) -> bool:
        return self.reply is not None

    def tool_names(self) -> list[str]:
        """The names of the tools the agent offered the model in this request."""
        return tool_names(self.dialect, self.body)

    def tool_results(self) -> list[ToolResult]:
        """Every tool result in this request's conversation history, oldest first."""
        return tool_results(self.dialect, self.body)


# --- the server ---------------------------------------------------------------------------


class ModelServer:
    """The scripted server, on 127.0.0.1 and a free port (or on a socket the caller made, such
    as one in a tests.support.netns host that sandboxed agents can reach), run by uvicorn in
    its own thread.

    A thread (rather than a task on the caller's loop) lets sync tests, async tests and plain
    scripts use it alike, and keeps a busy or blocked test loop from starving the agent's
    streams. `start` and `stop` are synchronous and bounded in time.
    """

    def __init__(
        self, script: Sequence[ScriptItem] = (), *, listen: socket.socket | None = None
    ) -> None:
        self._script: list[ScriptItem] = list(script)
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._errors: list[str] = []
        self._ids = itertools.count(1)
        self._stalls = threading.Condition(self._lock)
        self._stalled: list[RecordedRequest] = []
        self._socket: socket.socket | None = listen
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._server: uvicorn.Server | None = None
        self.host, self.port = "127.0.0.1", 0

    # lifecycle

    @property
    def base_url(self) -> str:
        """`http://HOST:PORT`, without a trailing slash or an API version."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> ModelServer:
        """Bind a free port (bound here, so there is no race for it) and serve until `stop`."""
        if self._thread is not None:
            raise RuntimeError("the model server is already started")
        if self._socket is None:
            self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._socket.bind(("127.0.0.1", 0))
        self.host, self.port = self._socket.getsockname()[:2]
        config = uvicorn.Config(
            self._asgi,
            interface="asgi3",
            lifespan="off",
            proxy_headers=False,
            log_level="warning",
            access_log=False,
            http="h11",
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="model-server", daemon=True)
        self._thread.start()
        server, thread = self._server, self._thread

        def started() -> bool:
            if not thread.is_alive():
                raise RuntimeError("the model server exited while starting")
            return server.started

        try:
            eventually_sync(started, "the model server started", wait_seconds=START_TIMEOUT_SECONDS)
        except AssertionError:
            self.stop()
            raise
        return self

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._stopping = asyncio.Event()
            assert self._server is not None and self._socket is not None
            await self._server.serve(sockets=[self._socket])

        asyncio.run(main())

    def stop(self) -> None:
        """Release every held (stalled) response, then shut down; idempotent and bounded."""
        thread, server = self._thread, self._server
        if thread is None or server is None:
            return
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # the loop may already be closed
                self._loop.call_soon_threadsafe(self._stopping.set)
        server.should_exit = True
        thread.join(STOP_TIMEOUT_SECONDS)
        if thread.is_alive():
            server.force_exit = True
            thread.join(STOP_TIMEOUT_SECONDS)
        if self._socket is not None:
            self._socket.close()
        self._thread = None
        if thread.is_alive():
            raise RuntimeError("the model server did not stop in time")

    def __enter__(self) -> ModelServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # the script and the record

    def add(self, *items: ScriptItem) -> None:
        """Append replies to the script, e.g. between two turns of one session."""
        with self._lock:
            self._script.extend(items)

    @property
    def remaining(self) -> int:
        """How many script items no request has consumed yet."""
        with self._lock:
            return len(self._script)

    @property
    def requests(self) -> list[RecordedRequest]:
        """A snapshot of every request received so far, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def scripted_requests(self) -> list[RecordedRequest]:
        """The requests that consumed a script item, in order."""
        return [request for request in self.requests if request.scripted]

    @property
    def errors(self) -> list[str]:
        """Requests the script could not answer (exhausted, unknown route, bad tool); a test
        that ran as scripted should find this empty."""
        with self._lock:
            return list(self._errors)

    def requests_with_tool_results(self) -> list[RecordedRequest]:
        """The scripted requests that carried at least one tool result back to the model."""
        return [request for request in self.scripted_requests if request.tool_results()]

    def wait_for_stall(self, timeout: float, number: int = 1) -> RecordedRequest:
        """Block until the `number`th `Stall` reply has started streaming (so the agent is
        mid-turn), and return its request; its `stall_ended` tells later how it ended."""
        with self._stalls:
            if not self._stalls.wait_for(lambda: len(self._stalled) >= number, timeout):
                raise TimeoutError(f"no stalled model response number {number} in {timeout} s")
            return self._stalled[number - 1]

    def _record(self, request: RecordedRequest, error: str | None = None) -> None:
        with self._lock:
            self._requests.append(request)
            if error is not None:
                self._errors.append(error)

    def _take(self) -> ScriptItem | None:
        with self._lock:
            return self._script.pop(0) if self._script else None

    def _next_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):04d}"

    # HTTP

    async def _asgi(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        raw = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode(errors="replace")
        path: str = scope["path"]
        request = RecordedRequest(
            method=scope["method"],
            path=path,
            query=scope["query_string"].decode(),
            headers={k.decode().lower(): v.decode() for k, v in scope["headers"]},
            body=body,
            dialect=dialect_of(path),
        )
        if scope["method"] == "HEAD":
            # Claude Code probes the base URL (`HEAD /`, or `HEAD /api/hello` in 2.1.3xx).
            self._record(request)
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if scope["method"] != "POST" or request.dialect is None or not isinstance(body, dict):
            self._record(request, f"unexpected request {scope['method']} {path}")
            await _send_json(send, 404, {"error": {"message": f"no route for {path}"}})
            return
        if path.endswith(("/count_tokens", ":countTokens")):
            self._record(request)
            count = {"anthropic": {"input_tokens": 1}, "gemini": {"totalTokens": 1}}
            await _send_json(send, 200, count.get(request.dialect, {}))
            return
        await self._answer(request, body, receive, send)

    async def _answer(
        self, request: RecordedRequest, body: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        dialect = request.dialect
        assert dialect is not None
        streaming = (
            ":streamGenerateContent" in request.path
            if dialect == "gemini"
            else bool(body.get("stream"))
        )
        error: str | None = None
        if is_side_request(dialect, body):
            item: ScriptItem = Reply(side_reply_text(dialect, body))
        else:
            taken = self._take()
            if taken is None:
                error = f"script exhausted at {request.path}"
                item = Reply(EXHAUSTED_TEXT)
            else:
                item = request.reply = taken
        model = model_of(dialect, request.path, body)
        calls: list[Call] = []
        if isinstance(item, Reply) and item.tool is not None:
            try:
                calls = translate(dialect, item.tool, body)
            except ValueError as exc:
                error = str(exc)
                item = Reply(f"{item.text}\n({exc})")
        self._record(request, error)

        if isinstance(item, Stall):
            if not streaming:
                await self._hold(request, receive)
                await _send_json(send, 503, {"error": {"message": "stalled"}})
                return
            await _start_sse(send)
            for event in stream_events(dialect, self._next_id, model, item.text, [], final=False):
                await _send_sse(send, dialect, event)
            with self._stalls:
                self._stalled.append(request)
                self._stalls.notify_all()
            await self._hold(request, receive)
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if not streaming:
            await _send_json(send, 200, complete(dialect, self._next_id, model, item.text, calls))
            return
        await _start_sse(send)
        for event in stream_events(dialect, self._next_id, model, item.text, calls, final=True):
            await _send_sse(send, dialect, event)
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def _hold(self, request: RecordedRequest, receive: Receive) -> None:
        """Wait until the client hangs up or the server stops, and note which came first."""
        assert self._stopping is not None

        async def disconnected() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass

        hang_up = asyncio.ensure_future(disconnected())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({hang_up, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            request.stall_ended = "disconnected" if hang_up.done() else "stopped"
            hang_up.cancel()
            stopping.cancel()


@contextmanager
def serve_models(
    script: Sequence[ScriptItem] = (), *, listen: socket.socket | None = None
) -> Iterator[ModelServer]:
    """Run a `ModelServer` with `script` for the duration of a `with` block."""
    server = ModelServer(script, listen=listen)
    server.start()
    try:
        yield server
    finally:
        server.stop()


# --- ASGI helpers -------------------------------------------------------------------------


async def _send_json(send: Send, status: int, payload: Json) -> None:
    data = json.dumps(payload).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": data, "more_body": False})


async def _start_sse(send: Send) -> None:
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})


async def _send_sse(send: Send, dialect: Dialect, data: Json) -> None:
    frame = sse_frame(dialect, data)
    await send({"type": "http.response.body", "body": frame, "more_body": True})
    await asyncio.sleep(0)  # let each event go out as its own chunk, as a real stream would
