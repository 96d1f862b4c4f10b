"""A scripted model server: plays the LLM's side of three provider APIs so that real coding
agents (Claude Code, Codex, Gemini CLI) run whole turns offline and deterministically.

One server on one loopback port speaks all three wire protocols, each with SSE streaming:

- Anthropic Messages: `POST /v1/messages` (and `/v1/messages/count_tokens`), for Claude Code;
- OpenAI Responses: `POST /v1/responses`, for Codex;
- Gemini: `POST /v1beta/models/{model}:streamGenerateContent?alt=sse` and `:generateContent`
  (and `:countTokens`), for Gemini CLI.

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
takes the next reply (with one named exception, see `_SIDE_REQUEST_MARKERS`). A side request
gets a canned answer, shaped by its JSON schema when it asks for structured output, and never
consumes the script, so a test does not break when an agent version adds or drops one.

`EditFile` and `WriteFile` are translated to the file tools each agent offers (as listed in
the `tools` field of its requests): Claude's `Read` + `Edit`/`Write`, Codex's `apply_patch`
(freeform or JSON, whichever the request declares), Gemini's `replace`/`write_file`. `ToolCall`
names any other tool directly. `Stall` starts streaming and then holds the response open until
the agent hangs up or the server stops, to test cancelling a turn mid-stream.

Every request is recorded (`ModelServer.requests`), with the tool results it carried back, so a
test can assert that the agent really ran the tool; `ModelServer.errors` lists what the script
could not answer. Unknown routes get a 404 and an error; `HEAD` probes get a 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

import uvicorn

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

Dialect: TypeAlias = Literal["anthropic", "openai", "gemini"]
Json: TypeAlias = Any
Receive: TypeAlias = Callable[[], Any]
Send: TypeAlias = Callable[[dict[str, Any]], Any]

START_TIMEOUT_SECONDS = 10.0
STOP_TIMEOUT_SECONDS = 10.0
SIDE_REPLY_TEXT = "OK"
EXHAUSTED_TEXT = "(the model server's script has no more replies)"
_POLL_SECONDS = 0.02


# --- the script ---------------------------------------------------------------------------


@dataclass(frozen=True)
class EditFile:
    """Replace `old` with `new` in the file at absolute `path`.

    Codex edits with line-based patches, so `old` and `new` should be whole lines (ending in a
    newline) for the same step to work for every agent; `old` must occur once in the file.
    """

    path: str
    old: str
    new: str


@dataclass(frozen=True)
class WriteFile:
    """Create (or overwrite) the file at absolute `path` with `content`."""

    path: str
    content: str


@dataclass(frozen=True)
class ToolCall:
    """Any tool by its name, with arguments exactly as that agent's tool expects them.

    For Codex, a tool declared `custom` (freeform, like `apply_patch`) gets a `str` as its raw
    input (a dict is JSON-encoded), and a function tool gets a `str` as `{"input": str}`. The
    other protocols take a dict only.
    """

    name: str
    arguments: dict[str, Any] | str


Action: TypeAlias = EditFile | WriteFile | ToolCall


@dataclass(frozen=True)
class Reply:
    """One complete model response: optional text, then optionally one tool action.

    With an action the response ends asking for tools (stop reason `tool_use`), so the agent
    runs them and sends the results in its next request; without one it ends the turn. One
    action may become two calls in one response (Claude reads a file before editing it).
    """

    text: str = ""
    tool: Action | None = None


@dataclass(frozen=True)
class Stall:
    """Start a streamed response with `text`, then send nothing more until the agent closes the
    connection or the server stops: the model "hangs" mid-turn, for cancellation tests."""

    text: str = "Let me think about that"


ScriptItem: TypeAlias = Reply | Stall


# --- what the server saw ------------------------------------------------------------------


@dataclass(frozen=True)
class ToolResult:
    """A tool result the agent sent back to the model, normalised across protocols."""

    call_id: str | None
    output: str
    is_error: bool = False


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
        return _tool_names(self.dialect, self.body)

    def tool_results(self) -> list[ToolResult]:
        """Every tool result in this request's conversation history, oldest first."""
        return _tool_results(self.dialect, self.body)


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
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not self._server.started:
            if not self._thread.is_alive():
                raise RuntimeError("the model server exited while starting")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the model server did not start in time")
            time.sleep(_POLL_SECONDS)
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
            dialect=_dialect(path),
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
        if _is_side_request(dialect, body):
            item: ScriptItem = Reply(_side_reply_text(dialect, body))
        else:
            taken = self._take()
            if taken is None:
                error = f"script exhausted at {request.path}"
                item = Reply(EXHAUSTED_TEXT)
            else:
                item = request.reply = taken
        model = _model(dialect, request.path, body)
        calls: list[_Call] = []
        if isinstance(item, Reply) and item.tool is not None:
            try:
                calls = _translate(dialect, item.tool, body)
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
            for event in _events(dialect, self._next_id, model, item.text, [], final=False):
                await _send_sse(send, dialect, event)
            with self._stalls:
                self._stalled.append(request)
                self._stalls.notify_all()
            await self._hold(request, receive)
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if not streaming:
            await _send_json(send, 200, _complete(dialect, self._next_id, model, item.text, calls))
            return
        await _start_sse(send)
        for event in _events(dialect, self._next_id, model, item.text, calls, final=True):
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
    """One SSE frame. Anthropic and OpenAI name each event after its `type`; Gemini sends bare
    `data:` lines."""
    head = "" if dialect == "gemini" else f"event: {data['type']}\n"
    frame = f"{head}data: {json.dumps(data)}\n\n".encode()
    await send({"type": "http.response.body", "body": frame, "more_body": True})
    await asyncio.sleep(0)  # let each event go out as its own chunk, as a real stream would


# --- protocol details ---------------------------------------------------------------------


def _dialect(path: str) -> Dialect | None:
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path == "/v1/responses":
        return "openai"
    if path.startswith("/v1beta/models/"):
        return "gemini"
    return None


def _model(dialect: Dialect, path: str, body: dict[str, Any]) -> str:
    if dialect == "gemini":
        return path.removeprefix("/v1beta/models/").split(":", 1)[0]
    return str(body.get("model") or "scripted-model")


def _chunks(text: str, size: int = 24) -> Iterator[str]:
    """Split text into a few deltas, so the agent sees a stream rather than one block."""
    for start in range(0, len(text), size):
        yield text[start : start + size]


def _tool_names(dialect: Dialect | None, body: Json) -> list[str]:
    if not isinstance(body, dict):
        return []
    tools = body.get("tools") or []
    if dialect == "gemini":
        return [
            str(declaration.get("name"))
            for tool in tools
            for declaration in tool.get("functionDeclarations") or []
        ]
    return [str(tool.get("name", tool.get("type"))) for tool in tools]


def _tool_results(dialect: Dialect | None, body: Json) -> list[ToolResult]:
    if not isinstance(body, dict):
        return []
    results: list[ToolResult] = []
    if dialect == "anthropic":
        for message in body.get("messages") or []:
            content = message.get("content")
            for block in content if isinstance(content, list) else []:
                if block.get("type") == "tool_result":
                    output = block.get("content")
                    if isinstance(output, list):
                        output = "".join(part.get("text", "") for part in output)
                    results.append(
                        ToolResult(
                            block.get("tool_use_id"), str(output or ""), bool(block.get("is_error"))
                        )
                    )
    elif dialect == "openai":
        for item in body.get("input") or []:
            if item.get("type") in ("function_call_output", "custom_tool_call_output"):
                output = item.get("output")
                if not isinstance(output, str):
                    output = json.dumps(output)
                results.append(ToolResult(item.get("call_id"), output))
    elif dialect == "gemini":
        for content in body.get("contents") or []:
            for part in content.get("parts") or []:
                response = part.get("functionResponse")
                if response is not None:
                    payload = response.get("response") or {}
                    results.append(
                        ToolResult(
                            response.get("id"),
                            json.dumps(payload),
                            is_error="error" in payload,
                        )
                    )
    return results


# Side requests that carry the full tool list anyway (to share the main loop's prompt cache),
# recognised by how their last user message starts. Claude Code's prompt suggestion runs after
# each turn and would otherwise take the next turn's reply; `claude_launch` also turns it off.
_SIDE_REQUEST_MARKERS = ("[SUGGESTION MODE:",)


def _is_side_request(dialect: Dialect, body: dict[str, Any]) -> bool:
    """True for requests the agent makes besides its main loop; they get a canned answer."""
    if not _tool_names(dialect, body):
        return True
    if dialect != "anthropic":
        return False
    messages = body.get("messages") or []
    content = messages[-1].get("content") if messages else None
    if isinstance(content, list):
        content = next((b.get("text") for b in content if b.get("type") == "text"), None)
    return isinstance(content, str) and content.startswith(_SIDE_REQUEST_MARKERS)


def _side_reply_text(dialect: Dialect, body: dict[str, Any]) -> str:
    """A harmless answer to a side request. A request for structured output (Claude's session
    title, Gemini's routing classifier) gets JSON shaped by its schema, so it parses instead
    of failing or being retried."""
    schema: Any = None
    if dialect == "gemini":
        config = body.get("generationConfig") or {}
        schema = config.get("responseJsonSchema") or config.get("responseSchema")
        if schema is None and config.get("responseMimeType") == "application/json":
            schema = {"type": "object"}
    elif dialect == "anthropic":
        output_format = (body.get("output_config") or {}).get("format") or {}
        schema = output_format.get("schema")
    elif dialect == "openai":
        text_format = (body.get("text") or {}).get("format") or {}
        schema = text_format.get("schema")
    return SIDE_REPLY_TEXT if schema is None else json.dumps(_sample(schema))


def _sample(schema: dict[str, Any]) -> Json:
    """A small value that satisfies a JSON schema: the first enum value, the minimum number."""
    if "enum" in schema:
        return schema["enum"][0]
    kind = str(schema.get("type", "object")).lower()
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: _sample(sub) for name, sub in properties.items()}
    if kind == "array":
        return []
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return False
    return "scripted"


@dataclass(frozen=True)
class _Call:
    """A tool call ready to encode: its name and either JSON arguments or freeform input."""

    name: str
    arguments: dict[str, Any] | str
    kind: Literal["function", "custom"] = "function"


def _translate(dialect: Dialect, action: Action, body: dict[str, Any]) -> list[_Call]:
    """Turn a script action into the tool calls this agent understands, checking that the agent
    offered those tools (a renamed tool should fail the test loudly, not hang the agent)."""
    if isinstance(action, ToolCall):
        calls = [(action.name, action.arguments)]
    elif dialect == "anthropic":
        calls = _claude_calls(action)
    elif dialect == "gemini":
        calls = [_gemini_call(action)]
    else:
        calls = [("apply_patch", _patch(action))]
    offered = _tool_names(dialect, body)
    result: list[_Call] = []
    for name, arguments in calls:
        if name not in offered:
            raise ValueError(f"the agent offered no {name!r} tool; it offered {offered}")
        result.append(_shape(dialect, body, name, arguments))
    return result


def _claude_calls(action: EditFile | WriteFile) -> list[tuple[str, dict[str, Any] | str]]:
    """Claude Code (up to at least 2.1.1xx; 2.1.3xx no longer checks) refuses to edit or
    overwrite a file it has not read in the conversation, so the reply reads it first, in the
    same response: Claude runs the read-only Read before the Edit, and one script step stays
    one model request."""
    read: tuple[str, dict[str, Any] | str] = ("Read", {"file_path": action.path})
    if isinstance(action, EditFile):
        edit = {"file_path": action.path, "old_string": action.old, "new_string": action.new}
        return [read, ("Edit", edit)]
    write: tuple[str, dict[str, Any] | str] = (
        "Write",
        {"file_path": action.path, "content": action.content},
    )
    # A new file needs no Read (reading it would be a failed tool call); the server runs on
    # the test's machine, so it can look.
    return [read, write] if Path(action.path).exists() else [write]


def _gemini_call(action: EditFile | WriteFile) -> tuple[str, dict[str, Any] | str]:
    if isinstance(action, EditFile):
        return "replace", {
            "file_path": action.path,
            "instruction": f"Replace the given text in {Path(action.path).name}.",
            "old_string": action.old,
            "new_string": action.new,
        }
    return "write_file", {"file_path": action.path, "content": action.content}


def _shape(
    dialect: Dialect, body: dict[str, Any], name: str, arguments: dict[str, Any] | str
) -> _Call:
    """Codex offers some tools as freeform (`custom`) and others as JSON functions; send each
    the way the request declared it. The other protocols only have JSON arguments."""
    if dialect != "openai":
        if isinstance(arguments, str):
            raise ValueError(f"{dialect} tool calls take JSON arguments, not {arguments!r}")
        return _Call(name, arguments)
    spec = next(tool for tool in body.get("tools") or [] if tool.get("name") == name)
    if spec.get("type") == "custom":
        freeform = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return _Call(name, freeform, "custom")
    return _Call(name, {"input": arguments} if isinstance(arguments, str) else arguments)


def _patch(action: EditFile | WriteFile) -> str:
    """The `apply_patch` envelope Codex expects for one file."""
    if isinstance(action, WriteFile):
        lines = [f"*** Add File: {action.path}"]
        lines += [f"+{line}" for line in action.content.splitlines()]
    else:
        lines = [f"*** Update File: {action.path}", "@@"]
        lines += [f"-{line}" for line in action.old.splitlines()]
        lines += [f"+{line}" for line in action.new.splitlines()]
    return "\n".join(["*** Begin Patch", *lines, "*** End Patch", ""])


def _events(
    dialect: Dialect,
    next_id: Callable[[str], str],
    model: str,
    text: str,
    calls: Sequence[_Call],
    *,
    final: bool,
) -> Iterator[Json]:
    """The SSE events of one response; with `final=False`, only its opening text (a stall)."""
    if dialect == "anthropic":
        return _anthropic_events(next_id, model, text, calls, final=final)
    if dialect == "openai":
        return _openai_events(next_id, model, text, calls, final=final)
    return _gemini_events(next_id, model, text, calls, final=final)


def _anthropic_events(
    next_id: Callable[[str], str], model: str, text: str, calls: Sequence[_Call], *, final: bool
) -> Iterator[Json]:
    usage = {
        "input_tokens": 10,
        "output_tokens": 1,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    message: dict[str, Any] = {
        "id": next_id("msg"),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    yield {"type": "message_start", "message": message}
    blocks: list[tuple[Json, list[Json]]] = []
    if text:
        deltas = [{"type": "text_delta", "text": piece} for piece in _chunks(text)]
        blocks.append(({"type": "text", "text": ""}, deltas))
    for call in calls:
        block = {"type": "tool_use", "id": next_id("toolu"), "name": call.name, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": json.dumps(call.arguments)}]
        blocks.append((block, deltas))
    for index, (block, deltas) in enumerate(blocks):
        yield {
            "type": "content_block_start",
            "index": index,
            "content_block": block,
        }
        for delta in deltas:
            yield {"type": "content_block_delta", "index": index, "delta": delta}
        if not final:
            return
        yield {"type": "content_block_stop", "index": index}
    if not final:
        return
    yield {
        "type": "message_delta",
        "delta": {"stop_reason": "tool_use" if calls else "end_turn", "stop_sequence": None},
        "usage": {"output_tokens": 5},
    }
    yield {"type": "message_stop"}


def _openai_events(
    next_id: Callable[[str], str], model: str, text: str, calls: Sequence[_Call], *, final: bool
) -> Iterator[Json]:
    response: dict[str, Any] = {
        "id": next_id("resp"),
        "object": "response",
        "model": model,
        "status": "in_progress",
        "output": [],
    }
    yield {"type": "response.created", "response": response}
    items: list[dict[str, Any]] = []
    if text:
        item_id = next_id("msg")
        opening = {
            "type": "message",
            "id": item_id,
            "role": "assistant",
            "status": "in_progress",
            "content": [],
        }
        yield {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": opening,
        }
        for piece in _chunks(text):
            yield {
                "type": "response.output_text.delta",
                "item_id": item_id,
                "output_index": 0,
                "content_index": 0,
                "delta": piece,
            }
        if not final:
            return
        content = [{"type": "output_text", "text": text, "annotations": []}]
        items.append({**opening, "status": "completed", "content": content})
        yield {
            "type": "response.output_item.done",
            "output_index": 0,
            "item": items[-1],
        }
    if not final:
        return
    for call in calls:
        item: dict[str, Any] = {
            "id": next_id("fc"),
            "call_id": next_id("call"),
            "name": call.name,
            "status": "completed",
        }
        if call.kind == "custom":
            item.update(type="custom_tool_call", input=call.arguments)
        else:
            item.update(type="function_call", arguments=json.dumps(call.arguments))
        for event in ("response.output_item.added", "response.output_item.done"):
            yield {"type": event, "output_index": len(items), "item": item}
        items.append(item)
    usage = {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 15,
    }
    completed = {**response, "status": "completed", "output": items, "usage": usage}
    yield {"type": "response.completed", "response": completed}


def _gemini_events(
    next_id: Callable[[str], str], model: str, text: str, calls: Sequence[_Call], *, final: bool
) -> Iterator[Json]:
    """Gemini streams whole `GenerateContentResponse` chunks; the last carries `finishReason`
    (Gemini CLI retries a stream that ends without one) and the function calls."""
    response_id = next_id("gen")
    chunks: list[list[Json]] = [[{"text": piece}] for piece in _chunks(text)]
    if not final:
        for parts in chunks or [[{"text": ""}]]:
            yield _gemini_chunk(response_id, model, parts, finish=False)
        return
    if calls:
        chunks.append([{"functionCall": {"name": c.name, "args": c.arguments}} for c in calls])
    chunks = chunks or [[{"text": ""}]]
    for number, parts in enumerate(chunks, start=1):
        yield _gemini_chunk(response_id, model, parts, finish=number == len(chunks))


def _gemini_chunk(response_id: str, model: str, parts: list[Json], *, finish: bool) -> Json:
    candidate: dict[str, Any] = {"content": {"role": "model", "parts": parts}, "index": 0}
    chunk: dict[str, Any] = {
        "candidates": [candidate],
        "modelVersion": model,
        "responseId": response_id,
    }
    if finish:
        candidate["finishReason"] = "STOP"
        chunk["usageMetadata"] = {
            "promptTokenCount": 10,
            "candidatesTokenCount": 5,
            "totalTokenCount": 15,
        }
    return chunk


def _complete(
    dialect: Dialect,
    next_id: Callable[[str], str],
    model: str,
    text: str,
    calls: Sequence[_Call],
) -> Json:
    """A whole, non-streamed response, assembled from the events a stream would carry."""
    events = list(_events(dialect, next_id, model, text, calls, final=True))
    if dialect == "openai":
        return events[-1]["response"]
    if dialect == "gemini":
        parts = [part for event in events for part in event["candidates"][0]["content"]["parts"]]
        call_parts = [part for part in parts if "functionCall" in part]
        merged = events[-1]
        merged["candidates"][0]["content"]["parts"] = (
            [{"text": text}, *call_parts] if text else call_parts
        )
        return merged
    content: list[Json] = []
    for event in events:
        if event["type"] == "content_block_start":
            content.append(dict(event["content_block"]))
        elif event["type"] == "content_block_delta":
            delta = event["delta"]
            if delta["type"] == "text_delta":
                content[-1]["text"] += delta["text"]
            else:
                content[-1]["input"] = json.loads(delta["partial_json"])
    message = dict(events[0]["message"])
    message.update(content=content, stop_reason="tool_use" if calls else "end_turn")
    return message
