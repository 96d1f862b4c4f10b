"""A scripted ACP agent that Corral's tests run in place of a real coding agent.

It speaks the Agent Client Protocol (JSON-RPC 2.0, one message per line on stdin/stdout) through
the official Python SDK, so tests see the wire format real agents produce, but every turn is
deterministic: the text of each `session/prompt` names a scenario. A prompt is a scenario name
followed by arguments, `key=value` or positional, split with shell rules (`content="two words"`).
Text that does not start with a scenario name is echoed.

Scenarios:
    echo                         Stream the whole prompt text back as agent_message_chunk updates.
    all-updates                  One update of every kind the SDK can produce (plan_update and
                                 plan_removed only if the client advertised `plan`), then two raw
                                 frames the SDK cannot produce: an unknown kind `future_kind_xyz`
                                 and an agent_message_chunk with an unknown field `futureField`.
                                 The result reports the turn's token counts, and a usage_update
                                 follows it, as some agents do.
    permission [path=P] [content=C]
                                 Ask to write P (relative to the session cwd, default notes.txt),
                                 showing the proposed diff as real agents do, with options
                                 allow / always / reject; if allowed, write C through
                                 fs/write_text_file (reading the old text first if P exists).
                                 Rejected: the tool call fails, nothing is written. Cancelled: the
                                 turn ends with stopReason cancelled. After "always", later
                                 permission turns of the session skip the question.
    read path=P                  fs/read_text_file, echo the content (or the client's error).
    terminal cmd=CMD             Run `sh -c CMD` through terminal/create, wait_for_exit, output,
                                 release; CMD is the rest of the prompt after `cmd=`, verbatim.
    shell-line cmd=CMD           The same, but CMD whole as terminal/create's command and no
                                 args, as some agents send a shell line.
    slow [seconds=S]             A chunk every 0.1 s for S seconds (default 30); stops with
                                 stopReason cancelled as soon as session/cancel arrives.
    crash                        A few stderr lines, then exit(3) in the middle of the turn.
    hang [term=ignore]           Never answer and ignore session/cancel; even stdin EOF does not
                                 end the process. term=ignore also ignores SIGTERM.
    stderr-flood [mib=M]         Write M MiB (default 8) to stderr, then end the turn.
    garbage                      Write the line `this is not json` to stdout, then carry on.
    oversized [mib=M]            Write one valid session/update line of M MiB (default 16).
    unknown-method               Call the client method `_corral/nonexistent`; report the error.
    flood N [raw] [rate=R]       N agent_message_chunk updates (text "<index>\\n") as fast as
                                 possible; `raw` writes pre-serialized frames in batches instead
                                 of building each one through the SDK's models. `rate=R` sends
                                 R a second instead, each text "<index> <unix time>\\n".
    chat N                       A long, varied transcript of about N updates: steps of a thought,
                                 an edit tool call with a diff (pending, then completed) and a
                                 markdown message with a code block, five updates a step.
    mode [ID] / model [ID]       Report the current mode / model, or switch to ID from the agent
                                 side (current_mode_update / config_option_update).

Sessions advertise modes `default` and `plan` and a config option `model` (category model,
values `fast` and `smart`); session/set_mode, session/set_config_option and the older
session/set_model all work and emit the matching update. Transcripts are kept in
`<state dir>/<session id>.json`, so a later process can `session/load` (and replay) a session an
earlier one created; session/list, session/resume, session/close and session/fork work too.

Command line:
    python tests/support/scripted_agent.py [--state-dir DIR] [--no-load] [--require-auth METHOD]
                                           [--hang-at-start] [--crash-at-start]

    --state-dir DIR        Where transcripts live (default: $SCRIPTED_AGENT_STATE, else memory).
    --no-load              Advertise loadSession=false and refuse session/load.
    --require-auth METHOD  Offer auth method METHOD; session/new, load, resume and fork fail with
                           -32000 until `authenticate` with that method id succeeded.
    --hang-at-start        Sleep forever before reading stdin.
    --crash-at-start       Print an error to stderr and exit 1 before initialize.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import select
import shlex
import signal
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from acp import (
    PROTOCOL_VERSION,
    RequestError,
    plan_entry,
    run_agent,
    start_tool_call,
    stdio_streams,
    text_block,
    tool_content,
    tool_diff_content,
    tool_terminal_ref,
    update_agent_message_text,
    update_agent_thought_text,
    update_plan,
    update_tool_call,
    update_user_message_text,
)
from acp.interfaces import Client
from acp.schema import (
    AcpMcpServer,
    AgentCapabilities,
    AgentMessageChunk,
    AgentPlanContentUpdate,
    AgentPlanRemovedUpdate,
    AgentPlanUpdate,
    AgentThoughtChunk,
    AudioContentBlock,
    AuthenticateResponse,
    AuthMethodAgent,
    AvailableCommand,
    AvailableCommandInput,
    AvailableCommandsUpdate,
    ClientCapabilities,
    CloseSessionResponse,
    ConfigOptionUpdate,
    Cost,
    CurrentModeUpdate,
    DeniedOutcome,
    EmbeddedResourceContentBlock,
    FileEditToolCallContent,
    ForkSessionResponse,
    HttpMcpServer,
    ImageContentBlock,
    Implementation,
    InitializeResponse,
    ListSessionsResponse,
    LoadSessionResponse,
    McpServerStdio,
    NewSessionResponse,
    PermissionOption,
    PlanUpdateMarkdown,
    PromptCapabilities,
    PromptResponse,
    ResourceContentBlock,
    ResumeSessionResponse,
    SessionCapabilities,
    SessionCloseCapabilities,
    SessionConfigOptionSelect,
    SessionConfigSelectOption,
    SessionForkCapabilities,
    SessionInfo,
    SessionInfoUpdate,
    SessionListCapabilities,
    SessionMode,
    SessionModeState,
    SessionResumeCapabilities,
    SetSessionConfigOptionResponse,
    SetSessionModeResponse,
    SseMcpServer,
    StopReason,
    TextContentBlock,
    ToolCallLocation,
    ToolCallProgress,
    ToolCallStart,
    ToolCallStatus,
    ToolCallUpdate,
    UnstructuredCommandInput,
    Usage,
    UsageUpdate,
    UserMessageChunk,
)

# Everything `AgentSideConnection.session_update` accepts.
Update = (
    UserMessageChunk
    | AgentMessageChunk
    | AgentThoughtChunk
    | ToolCallStart
    | ToolCallProgress
    | AgentPlanUpdate
    | AgentPlanContentUpdate
    | AgentPlanRemovedUpdate
    | AvailableCommandsUpdate
    | CurrentModeUpdate
    | ConfigOptionUpdate
    | SessionInfoUpdate
    | UsageUpdate
)
PromptBlock = (
    TextContentBlock
    | ImageContentBlock
    | AudioContentBlock
    | ResourceContentBlock
    | EmbeddedResourceContentBlock
)
McpServer = HttpMcpServer | SseMcpServer | AcpMcpServer | McpServerStdio

AGENT_NAME = "scripted-agent"
STATE_ENV = "SCRIPTED_AGENT_STATE"
MODES = {"default": "Default", "plan": "Plan"}
MODELS = {"fast": "Fast", "smart": "Smart"}
MODEL_OPTION_ID = "model"
DEFAULT_FILE = "notes.txt"
DEFAULT_CONTENT = "Hello from the scripted agent.\n"
UNKNOWN_CLIENT_METHOD = "corral/nonexistent"  # sent as `_corral/nonexistent`
LEGACY_SET_MODEL = "session/set_model"
ALLOW_ONCE, ALLOW_ALWAYS, REJECT_ONCE = "allow", "always", "reject"
PERMISSION_OPTIONS = [
    PermissionOption(option_id=ALLOW_ONCE, name="Allow", kind="allow_once"),
    PermissionOption(option_id=ALLOW_ALWAYS, name="Always allow", kind="allow_always"),
    PermissionOption(option_id=REJECT_ONCE, name="Reject", kind="reject_once"),
]
COMMANDS = [
    AvailableCommand(name="all-updates", description="Emit one update of every kind"),
    AvailableCommand(
        name="flood",
        description="Emit N message chunks as fast as possible",
        input=AvailableCommandInput(root=UnstructuredCommandInput(hint="number of chunks")),
    ),
]
ECHO_CHUNK_CHARS = 16
TICK_SECONDS = 0.1
AFTER_RESULT_DELAY_SECONDS = 0.05
FLOOD_BATCH = 1000
MIB = 1024 * 1024
STDIN_LIMIT = 64 * MIB
SESSION_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


def log(message: str) -> None:
    """Diagnostics go to stderr: stdout carries nothing but protocol frames."""
    print(f"[{AGENT_NAME}] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# Framing: our own stdio transport, so raw frames share the SDK's single writer.
# --------------------------------------------------------------------------------------------


class StdioFrames:
    """Newline-delimited JSON-RPC on stdin/stdout, with every write behind one lock.

    `run_agent` / `AgentSideConnection` accept any object with async `send`, `receive` and
    `close` (the SDK's message-level Transport seam) in place of byte streams. Owning that object
    lets scenarios write frames the SDK cannot produce (unknown update kinds, garbage, huge
    lines) through the same writer, under the same lock, as the SDK's own frames, so lines can
    never interleave. It also lets us answer `session/set_model`, which the SDK's router no
    longer knows, by renaming it to an extension method on the way in (see `receive`).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._lock = asyncio.Lock()

    async def receive(self) -> dict[str, Any] | None:
        """The next JSON object from stdin, or None at EOF; unparsable lines are skipped."""
        while True:
            line = await self._read_line()
            if not line:
                return None
            line = line.strip()
            if not line:
                continue
            try:
                message = json.loads(line)
            except ValueError:
                log(f"ignoring a line that is not JSON ({len(line)} bytes)")
                continue
            if isinstance(message, dict):
                return _route_legacy_method(message)

    async def send(self, message: dict[str, Any]) -> None:
        """Write one JSON-RPC message (the SDK calls this for all of its frames)."""
        await self.send_lines([json.dumps(message, separators=(",", ":")).encode()])

    async def send_lines(self, lines: Sequence[bytes]) -> None:
        """Write lines verbatim (each without its newline) in one write, then wait for drain."""
        data = b"".join(line + b"\n" for line in lines)
        async with self._lock:
            self._writer.write(data)
            await self._writer.drain()

    async def flush(self) -> None:
        """Wait until the kernel has taken everything written so far.

        `drain()` only waits while the buffer is over its high-water mark; before exiting on
        purpose (the crash scenario) the buffer must be empty, so drop the mark to zero first.
        """
        async with self._lock:
            transport = self._writer.transport
            low, high = transport.get_write_buffer_limits()
            transport.set_write_buffer_limits(high=0)
            try:
                await self._writer.drain()
            finally:
                transport.set_write_buffer_limits(high=high, low=low)

    async def close(self) -> None:
        """Flush what the SDK queued; stdout itself stays open until the process exits."""
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1.0):
                await self.flush()

    async def _read_line(self) -> bytes:
        """Read one line of any length (past the reader's limit, like the SDK's own reader)."""
        chunks: list[bytes] = []
        while True:
            try:
                chunks.append(await self._reader.readuntil(b"\n"))
                return b"".join(chunks)
            except asyncio.LimitOverrunError as exc:
                chunks.append(await self._reader.readexactly(exc.consumed))
            except asyncio.IncompleteReadError as exc:
                chunks.append(exc.partial)
                return b"".join(chunks)


def _route_legacy_method(message: dict[str, Any]) -> dict[str, Any]:
    """Send `session/set_model` to `ext_method`: the SDK router answers -32601 for it otherwise.

    The SDK hands any method starting with `_` to `Agent.ext_method` with the `_` stripped, and
    still writes the response under the original request id, so renaming is all it takes.
    """
    if message.get("method") == LEGACY_SET_MODEL and "id" in message:
        return {**message, "method": f"_{LEGACY_SET_MODEL}"}
    return message


def raw_update(session_id: str, update: dict[str, Any]) -> dict[str, Any]:
    """A session/update notification built by hand, for updates the SDK's models would reject."""
    return {
        "jsonrpc": "2.0",
        "method": "session/update",
        "params": {"sessionId": session_id, "update": update},
    }


# --------------------------------------------------------------------------------------------
# Sessions and their transcripts
# --------------------------------------------------------------------------------------------


@dataclass
class Session:
    """What the agent remembers about one session; everything but the live fields is saved."""

    session_id: str
    cwd: str
    mode_id: str = "default"
    model_id: str = "fast"
    title: str | None = None
    updated_at: str | None = None
    history: list[dict[str, str]] = field(default_factory=list)
    always_allow_edits: bool = False
    cancelled: asyncio.Event = field(default_factory=asyncio.Event, repr=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "sessionId": self.session_id,
            "cwd": self.cwd,
            "modeId": self.mode_id,
            "modelId": self.model_id,
            "title": self.title,
            "updatedAt": self.updated_at,
            "history": self.history,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Session:
        return cls(
            session_id=data["sessionId"],
            cwd=data["cwd"],
            mode_id=data.get("modeId", "default"),
            model_id=data.get("modelId", "fast"),
            title=data.get("title"),
            updated_at=data.get("updatedAt"),
            history=list(data.get("history", [])),
        )

    def info(self) -> SessionInfo:
        return SessionInfo(
            session_id=self.session_id, cwd=self.cwd, title=self.title, updated_at=self.updated_at
        )


class SessionStore:
    """Sessions by id, mirrored to `<state_dir>/<id>.json` when a state directory is set.

    The files are what make `session/load` testable across processes: the client restarts the
    agent and asks it to load a session only the previous process saw.
    """

    def __init__(self, state_dir: Path | None) -> None:
        self._state_dir = state_dir
        self._live: dict[str, Session] = {}
        if state_dir is not None:
            state_dir.mkdir(parents=True, exist_ok=True)

    def create(self, cwd: str) -> Session:
        session = Session(session_id=f"sess-{uuid.uuid4().hex}", cwd=cwd, updated_at=now_iso())
        self._live[session.session_id] = session
        self.save(session)
        return session

    def get(self, session_id: str) -> Session | None:
        """A session this process created, loaded or resumed."""
        return self._live.get(session_id)

    def restore(self, session_id: str) -> Session | None:
        """A live session, else one saved by this or an earlier process (now live again)."""
        session = self._live.get(session_id) or self._read(session_id)
        if session is not None:
            self._live[session_id] = session
        return session

    def save(self, session: Session) -> None:
        path = self._path(session.session_id)
        if path is None:
            return
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(session.to_json(), indent=1), encoding="utf-8")
        os.replace(temporary, path)

    def forget(self, session_id: str) -> None:
        """Drop the live copy (session/close); the saved transcript stays loadable."""
        self._live.pop(session_id, None)

    def all(self) -> list[Session]:
        """Live sessions and saved ones, for session/list."""
        sessions = dict(self._live)
        if self._state_dir is not None:
            for path in sorted(self._state_dir.glob("*.json")):
                if path.stem not in sessions and (saved := self._read(path.stem)) is not None:
                    sessions[path.stem] = saved
        return list(sessions.values())

    def _read(self, session_id: str) -> Session | None:
        path = self._path(session_id)
        if path is None or not path.is_file():
            return None
        return Session.from_json(json.loads(path.read_text(encoding="utf-8")))

    def _path(self, session_id: str) -> Path | None:
        if self._state_dir is None or not SESSION_ID_PATTERN.match(session_id):
            return None
        return self._state_dir / f"{session_id}.json"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def mode_state(session: Session) -> SessionModeState:
    return SessionModeState(
        current_mode_id=session.mode_id,
        available_modes=[SessionMode(id=key, name=name) for key, name in MODES.items()],
    )


def config_options(session: Session) -> list[SessionConfigOptionSelect]:
    return [
        SessionConfigOptionSelect(
            type="select",
            id=MODEL_OPTION_ID,
            name="Model",
            category="model",
            current_value=session.model_id,
            options=[
                SessionConfigSelectOption(value=key, name=name) for key, name in MODELS.items()
            ],
        )
    ]


# --------------------------------------------------------------------------------------------
# Prompts: which scenario, with which arguments
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Command:
    """A parsed prompt: scenario name, positional arguments and `key=value` options."""

    name: str
    text: str
    positional: tuple[str, ...] = ()
    options: dict[str, str] = field(default_factory=dict)

    def option(self, key: str, default: str) -> str:
        return self.options.get(key, default)

    def number(self, key: str, default: float) -> float:
        """`key=V`, else the first positional argument, else the default."""
        value = self.options.get(key) or (self.positional[0] if self.positional else None)
        try:
            return float(value) if value is not None else default
        except ValueError:
            return default


def prompt_text(blocks: Iterable[PromptBlock]) -> str:
    return "\n".join(block.text for block in blocks if isinstance(block, TextContentBlock))


def parse_command(text: str, scenarios: Iterable[str]) -> Command:
    """Split the prompt like a shell would; anything that is not a scenario becomes `echo`."""
    try:
        tokens = shlex.split(text)
    except ValueError:
        tokens = text.split()
    if not tokens or tokens[0] not in set(scenarios):
        return Command(name="echo", text=text)
    name = tokens[0]
    if name in ("terminal", "shell-line") and "cmd=" in text:
        return Command(name=name, text=text, options={"cmd": text.split("cmd=", 1)[1].strip()})
    positional = tuple(token for token in tokens[1:] if "=" not in token)
    options = dict(token.split("=", 1) for token in tokens[1:] if "=" in token)
    return Command(name=name, text=text, positional=positional, options=options)


# --------------------------------------------------------------------------------------------
# The agent
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    """The command line, minus the start-up failures `main` handles before any asyncio."""

    state_dir: Path | None
    load: bool
    require_auth: str | None


class Turn:
    """One session/prompt: sends the session's updates and remembers what the agent said."""

    def __init__(self, client: Client, session: Session, command: Command) -> None:
        self.client = client
        self.session = session
        self.command = command
        self.said: list[str] = []
        self.usage: Usage | None = None
        """The token counts the prompt's result reports, if any."""
        self._tool_calls = 0

    @property
    def session_id(self) -> str:
        return self.session.session_id

    @property
    def cancelled(self) -> bool:
        return self.session.cancelled.is_set()

    async def send(self, update: Update) -> None:
        await self.client.session_update(session_id=self.session_id, update=update)

    async def say(self, text: str) -> None:
        self.said.append(text)
        await self.send(update_agent_message_text(text))

    def resolve(self, path: str) -> str:
        """ACP paths are absolute; scenario arguments are relative to the session's cwd."""
        return os.path.normpath(os.path.join(self.session.cwd, path))

    def exists_locally(self, path: str) -> bool:
        """Whether to read the old text first; the agent shares the client's filesystem."""
        return os.path.exists(path)

    def new_tool_call_id(self, prefix: str) -> str:
        self._tool_calls += 1
        return f"{prefix}-{uuid.uuid4().hex[:8]}-{self._tool_calls}"


Scenario = Callable[[Turn], Awaitable[StopReason]]


class ScriptedAgent:
    """Implements the SDK's `Agent` protocol; each prompt runs the scenario its text names.

    It deliberately does not subclass `acp.Agent`: that is a Protocol whose method bodies are
    `...`, so any method we forgot would silently answer `null` instead of -32601.
    """

    def __init__(self, options: Options, frames: StdioFrames) -> None:
        self._options = options
        self._frames = frames
        self._store = SessionStore(options.state_dir)
        self._client: Client | None = None
        self._client_capabilities = ClientCapabilities()
        self._authenticated = options.require_auth is None
        self._background: set[asyncio.Task[None]] = set()
        self.hanging = False
        self._scenarios: dict[str, Scenario] = {
            "echo": self._echo,
            "all-updates": self._all_updates,
            "permission": self._permission,
            "read": self._read,
            "terminal": self._terminal,
            "shell-line": self._terminal,
            "slow": self._slow,
            "crash": self._crash,
            "hang": self._hang,
            "stderr-flood": self._stderr_flood,
            "garbage": self._garbage,
            "oversized": self._oversized,
            "unknown-method": self._unknown_method,
            "flood": self._flood,
            "chat": self._chat,
            "mode": self._mode,
            "model": self._model,
        }

    def on_connect(self, conn: Client) -> None:
        self._client = conn

    @property
    def client(self) -> Client:
        if self._client is None:
            raise RuntimeError("the SDK has not connected the agent yet")
        return self._client

    # ---- lifecycle ---------------------------------------------------------------------------

    async def initialize(
        self,
        protocol_version: int,
        client_capabilities: ClientCapabilities | None = None,
        client_info: Implementation | None = None,
        **kwargs: Any,
    ) -> InitializeResponse:
        self._client_capabilities = client_capabilities or ClientCapabilities()
        methods = []
        if self._options.require_auth is not None:
            methods.append(AuthMethodAgent(id=self._options.require_auth, name="Scripted login"))
        return InitializeResponse(
            protocol_version=min(protocol_version, PROTOCOL_VERSION),
            agent_capabilities=AgentCapabilities(
                load_session=self._options.load,
                prompt_capabilities=PromptCapabilities(embedded_context=True),
                session_capabilities=SessionCapabilities(
                    list=SessionListCapabilities(),
                    resume=SessionResumeCapabilities(),
                    close=SessionCloseCapabilities(),
                    fork=SessionForkCapabilities(),
                ),
            ),
            auth_methods=methods,
            agent_info=Implementation(name=AGENT_NAME, title="Scripted agent", version="1.0"),
        )

    async def authenticate(self, method_id: str, **kwargs: Any) -> AuthenticateResponse | None:
        if method_id != self._options.require_auth:
            raise RequestError.invalid_params({"details": f"unknown auth method {method_id!r}"})
        self._authenticated = True
        return AuthenticateResponse()

    async def new_session(
        self,
        cwd: str,
        additional_directories: list[str] | None = None,
        mcp_servers: list[McpServer] | None = None,
        **kwargs: Any,
    ) -> NewSessionResponse:
        self._check_auth()
        session = self._store.create(cwd)
        return NewSessionResponse(
            session_id=session.session_id,
            modes=mode_state(session),
            config_options=list(config_options(session)),
        )

    async def load_session(
        self,
        cwd: str,
        session_id: str,
        mcp_servers: list[McpServer] | None = None,
        additional_directories: list[str] | None = None,
        **kwargs: Any,
    ) -> LoadSessionResponse | None:
        """Replay the saved conversation as updates before answering, as the protocol asks."""
        if not self._options.load:
            raise RequestError.method_not_found("session/load")
        self._check_auth()
        session = self._session(session_id, restore=True)
        session.cwd = cwd
        for entry in session.history:
            if entry["role"] == "user":
                update: Update = update_user_message_text(entry["text"])
            else:
                update = update_agent_message_text(entry["text"])
            await self.client.session_update(session_id=session_id, update=update)
        return LoadSessionResponse(
            modes=mode_state(session), config_options=list(config_options(session))
        )

    async def resume_session(
        self,
        session_id: str,
        cwd: str,
        additional_directories: list[str] | None = None,
        mcp_servers: list[McpServer] | None = None,
        **kwargs: Any,
    ) -> ResumeSessionResponse:
        self._check_auth()
        session = self._session(session_id, restore=True)
        session.cwd = cwd
        return ResumeSessionResponse(
            modes=mode_state(session), config_options=list(config_options(session))
        )

    async def fork_session(
        self,
        session_id: str,
        cwd: str,
        additional_directories: list[str] | None = None,
        mcp_servers: list[McpServer] | None = None,
        **kwargs: Any,
    ) -> ForkSessionResponse:
        self._check_auth()
        source = self._session(session_id, restore=True)
        fork = self._store.create(cwd)
        fork.mode_id, fork.model_id = source.mode_id, source.model_id
        fork.history = [dict(entry) for entry in source.history]
        self._store.save(fork)
        return ForkSessionResponse(
            session_id=fork.session_id,
            modes=mode_state(fork),
            config_options=list(config_options(fork)),
        )

    async def list_sessions(
        self, cwd: str | None = None, cursor: str | None = None, **kwargs: Any
    ) -> ListSessionsResponse:
        sessions = [s.info() for s in self._store.all() if cwd is None or s.cwd == cwd]
        return ListSessionsResponse(sessions=sessions)

    async def close_session(self, session_id: str, **kwargs: Any) -> CloseSessionResponse | None:
        session = self._session(session_id)
        session.cancelled.set()
        self._store.forget(session_id)
        return CloseSessionResponse()

    # ---- modes and models ----------------------------------------------------------------------

    async def set_session_mode(
        self, session_id: str, mode_id: str, **kwargs: Any
    ) -> SetSessionModeResponse | None:
        await self._switch_mode(self._session(session_id), mode_id)
        return SetSessionModeResponse()

    async def set_config_option(
        self, config_id: str, session_id: str, value: str | bool, **kwargs: Any
    ) -> SetSessionConfigOptionResponse | None:
        session = self._session(session_id)
        if config_id != MODEL_OPTION_ID:
            raise RequestError.invalid_params({"details": f"unknown config option {config_id!r}"})
        await self._switch_model(session, str(value))
        return SetSessionConfigOptionResponse(config_options=list(config_options(session)))

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Only the pre-config-option `session/set_model` (see `_route_legacy_method`)."""
        if method != LEGACY_SET_MODEL:
            raise RequestError.method_not_found(f"_{method}")
        session = self._session(str(params.get("sessionId", "")))
        await self._switch_model(session, str(params.get("modelId", "")))
        return {}

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        log(f"ignoring extension notification _{method}")

    async def _switch_mode(self, session: Session, mode_id: str) -> None:
        if mode_id not in MODES:
            raise RequestError.invalid_params({"details": f"unknown mode {mode_id!r}"})
        session.mode_id = mode_id
        self._store.save(session)
        update = CurrentModeUpdate(session_update="current_mode_update", current_mode_id=mode_id)
        await self.client.session_update(session_id=session.session_id, update=update)

    async def _switch_model(self, session: Session, model_id: str) -> None:
        if model_id not in MODELS:
            raise RequestError.invalid_params({"details": f"unknown model {model_id!r}"})
        session.model_id = model_id
        self._store.save(session)
        update = ConfigOptionUpdate(
            session_update="config_option_update", config_options=list(config_options(session))
        )
        await self.client.session_update(session_id=session.session_id, update=update)

    # ---- prompts -------------------------------------------------------------------------------

    async def prompt(
        self, session_id: str, prompt: list[PromptBlock], **kwargs: Any
    ) -> PromptResponse:
        session = self._session(session_id)
        text = prompt_text(prompt)
        command = parse_command(text, self._scenarios)
        session.cancelled.clear()
        session.history.append({"role": "user", "text": text})
        turn = Turn(self.client, session, command)
        stop_reason = await self._scenarios[command.name](turn)
        session.history.append({"role": "agent", "text": "".join(turn.said)})
        session.updated_at = now_iso()
        self._store.save(session)
        return PromptResponse(stop_reason=stop_reason, usage=turn.usage)

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        session = self._store.get(session_id)
        if session is not None:
            session.cancelled.set()

    def _session(self, session_id: str, *, restore: bool = False) -> Session:
        """A live session; with `restore`, also one saved by an earlier process (load, resume)."""
        session = self._store.restore(session_id) if restore else self._store.get(session_id)
        if session is None:
            raise RequestError(-32602, f"Unknown session {session_id!r}", {"sessionId": session_id})
        return session

    def _check_auth(self) -> None:
        if not self._authenticated:
            raise RequestError.auth_required({"authMethods": [self._options.require_auth]})

    def _in_background(self, work: Awaitable[None]) -> None:
        async def run() -> None:
            with contextlib.suppress(ConnectionError):
                await work

        task = asyncio.create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ---- scenarios -----------------------------------------------------------------------------

    async def _echo(self, turn: Turn) -> StopReason:
        text = turn.command.text
        for start in range(0, len(text), ECHO_CHUNK_CHARS):
            await turn.say(text[start : start + ECHO_CHUNK_CHARS])
        return "end_turn"

    async def _all_updates(self, turn: Turn) -> StopReason:
        await turn.send(update_user_message_text("all-updates (user chunk sent by the agent)"))
        await turn.send(update_agent_thought_text("Let me show every kind of update."))
        await turn.say("Here is one update of every kind.\n")
        await self._demo_tool_call(turn)
        await self._demo_plans(turn)
        await turn.send(
            AvailableCommandsUpdate(
                session_update="available_commands_update", available_commands=COMMANDS
            )
        )
        await turn.send(
            CurrentModeUpdate(
                session_update="current_mode_update", current_mode_id=turn.session.mode_id
            )
        )
        await turn.send(
            ConfigOptionUpdate(
                session_update="config_option_update",
                config_options=list(config_options(turn.session)),
            )
        )
        turn.session.title = "All updates"
        await turn.send(
            SessionInfoUpdate(
                session_update="session_info_update", title=turn.session.title, updated_at=now_iso()
            )
        )
        await turn.send(usage_update(used=1200))
        await self._frames.send(
            raw_update(turn.session_id, {"sessionUpdate": "future_kind_xyz", "foo": 1})
        )
        await self._frames.send(
            raw_update(
                turn.session_id,
                {
                    "sessionUpdate": "agent_message_chunk",
                    "content": {"type": "text", "text": "A chunk with a field from the future. "},
                    "futureField": {"bar": 2},
                },
            )
        )
        await turn.say("All updates sent.")
        turn.usage = Usage(
            total_tokens=1400, input_tokens=1000, output_tokens=400, cached_read_tokens=800
        )
        self._in_background(self._usage_after_result(turn.session_id))
        return "end_turn"

    async def _demo_tool_call(self, turn: Turn) -> None:
        """An edit tool call that goes pending -> in_progress -> completed, content replaced."""
        path = turn.resolve("demo.txt")
        call_id = turn.new_tool_call_id("edit")
        diff = tool_diff_content(path, "new line\n", "old line\n")
        await turn.send(
            start_tool_call(
                call_id,
                "Edit demo.txt",
                kind="edit",
                status="pending",
                content=[diff],
                locations=[ToolCallLocation(path=path, line=1)],
                raw_input={"path": path, "newText": "new line\n"},
            )
        )
        await turn.send(update_tool_call(call_id, status="in_progress"))
        await turn.send(
            update_tool_call(
                call_id,
                status="completed",
                content=[tool_content(text_block("Edited demo.txt")), diff],
                raw_output={"ok": True},
            )
        )

    async def _demo_plans(self, turn: Turn) -> None:
        """A full plan; plan_update / plan_removed only for clients that advertised `plan`."""
        await turn.send(
            update_plan(
                [
                    plan_entry("Read the code", priority="high", status="completed"),
                    plan_entry("Edit demo.txt", priority="medium", status="in_progress"),
                    plan_entry("Run the tests", priority="low", status="pending"),
                ]
            )
        )
        if self._client_capabilities.plan is None:
            return
        markdown = PlanUpdateMarkdown(type="markdown", plan_id="plan-1", content="- [x] Edit")
        await turn.send(AgentPlanContentUpdate(session_update="plan_update", plan=markdown))
        await turn.send(AgentPlanRemovedUpdate(session_update="plan_removed", plan_id="plan-1"))

    async def _usage_after_result(self, session_id: str) -> None:
        """Some agents report usage after the prompt result; the SDK writes the result as soon
        as `prompt()` returns, and the delay keeps this frame behind it."""
        await asyncio.sleep(AFTER_RESULT_DELAY_SECONDS)
        await self.client.session_update(session_id=session_id, update=usage_update(used=1500))

    async def _permission(self, turn: Turn) -> StopReason:
        relative = turn.command.option("path", DEFAULT_FILE)
        content = turn.command.option("content", DEFAULT_CONTENT)
        path = turn.resolve(relative)
        call_id = turn.new_tool_call_id("write")
        title = f"Write {relative}"
        location = ToolCallLocation(path=path)
        # The proposed change, as real agents show it before asking.
        proposed = tool_diff_content(path, content, await self._old_text(turn, path))
        await turn.send(
            start_tool_call(
                call_id,
                title,
                kind="edit",
                status="pending",
                content=[proposed],
                locations=[location],
                raw_input={"path": path, "content": content},
            )
        )
        choice = await self._ask_permission(turn, call_id, title, location, proposed)
        if choice is None or turn.cancelled:
            await turn.send(update_tool_call(call_id, status="failed"))
            await turn.say(f"Permission was cancelled; {relative} was not written.")
            return "cancelled"
        if choice not in (ALLOW_ONCE, ALLOW_ALWAYS):
            await turn.send(
                update_tool_call(
                    call_id, status="failed", content=[tool_content(text_block("Rejected"))]
                )
            )
            await turn.say(f"Permission rejected; {relative} was not written.")
            return "end_turn"
        if choice == ALLOW_ALWAYS:
            turn.session.always_allow_edits = True
        await self._write_file(turn, call_id, relative, content)
        return "end_turn"

    async def _ask_permission(
        self,
        turn: Turn,
        call_id: str,
        title: str,
        location: ToolCallLocation,
        proposed: FileEditToolCallContent,
    ) -> str | None:
        """The chosen option id, or None if the client answered `cancelled`."""
        if turn.session.always_allow_edits:
            return ALLOW_ALWAYS
        response = await self.client.request_permission(
            session_id=turn.session_id,
            tool_call=ToolCallUpdate(
                tool_call_id=call_id,
                title=title,
                kind="edit",
                status="pending",
                content=[proposed],
                locations=[location],
            ),
            options=PERMISSION_OPTIONS,
        )
        if isinstance(response.outcome, DeniedOutcome):
            return None
        return response.outcome.option_id

    async def _old_text(self, turn: Turn, path: str) -> str | None:
        """A file's text read through the client, or None if it does not exist (or cannot be
        read): the old side of a diff."""
        if not turn.exists_locally(path):
            return None
        with contextlib.suppress(RequestError):
            old = await self.client.read_text_file(session_id=turn.session_id, path=path)
            return old.content
        return None

    async def _write_file(self, turn: Turn, call_id: str, relative: str, content: str) -> None:
        """Write through the client (never the local disk), reading the old text for the diff."""
        path = turn.resolve(relative)
        old_text = await self._old_text(turn, path)
        await turn.send(update_tool_call(call_id, status="in_progress"))
        try:
            await self.client.write_text_file(
                session_id=turn.session_id, path=path, content=content
            )
        except RequestError as exc:
            await turn.send(update_tool_call(call_id, status="failed"))
            await turn.say(f"Could not write {relative}: {describe_error(exc)}")
            return
        diff = tool_diff_content(path, content, old_text)
        await turn.send(update_tool_call(call_id, status="completed", content=[diff]))
        await turn.say(f"Wrote {len(content)} characters to {relative}.")

    async def _read(self, turn: Turn) -> StopReason:
        relative = turn.command.option("path", "")
        if not relative:
            await turn.say("usage: read path=P")
            return "end_turn"
        path = turn.resolve(relative)
        call_id = turn.new_tool_call_id("read")
        await turn.send(
            start_tool_call(
                call_id,
                f"Read {relative}",
                kind="read",
                status="in_progress",
                locations=[ToolCallLocation(path=path)],
            )
        )
        try:
            response = await self.client.read_text_file(session_id=turn.session_id, path=path)
        except RequestError as exc:
            await turn.send(update_tool_call(call_id, status="failed"))
            await turn.say(f"Could not read {relative}: {describe_error(exc)}")
            return "end_turn"
        await turn.send(update_tool_call(call_id, status="completed"))
        await turn.say(response.content)
        return "end_turn"

    async def _terminal(self, turn: Turn) -> StopReason:
        command = turn.command.option("cmd", "")
        if not command:
            await turn.say("usage: terminal cmd=COMMAND")
            return "end_turn"
        call_id = turn.new_tool_call_id("run")
        try:
            output, exit_code = await self._run_in_terminal(
                turn, call_id, command, whole_line=turn.command.name == "shell-line"
            )
        except RequestError as exc:
            await turn.send(update_tool_call(call_id, status="failed"))
            await turn.say(f"Terminal failed: {describe_error(exc)}")
            return "end_turn"
        status: ToolCallStatus = "completed" if exit_code == 0 else "failed"
        await turn.send(
            update_tool_call(call_id, status=status, raw_output={"exitCode": exit_code})
        )
        await turn.say(f"{output}\n[exit code {exit_code}]")
        return "end_turn"

    async def _run_in_terminal(
        self, turn: Turn, call_id: str, command: str, *, whole_line: bool = False
    ) -> tuple[str, int | None]:
        """create, show it in a tool call, wait_for_exit, output, and always release."""
        program, args = (command, []) if whole_line else ("sh", ["-c", command])
        created = await self.client.create_terminal(
            session_id=turn.session_id, command=program, args=args, cwd=turn.session.cwd
        )
        terminal_id = created.terminal_id
        try:
            await turn.send(
                start_tool_call(
                    call_id,
                    command,
                    kind="execute",
                    status="in_progress",
                    content=[tool_terminal_ref(terminal_id)],
                    raw_input={"command": command},
                )
            )
            exited = await self.client.wait_for_terminal_exit(
                session_id=turn.session_id, terminal_id=terminal_id
            )
            output = await self.client.terminal_output(
                session_id=turn.session_id, terminal_id=terminal_id
            )
        finally:
            await self.client.release_terminal(session_id=turn.session_id, terminal_id=terminal_id)
        return output.output, exited.exit_code

    async def _slow(self, turn: Turn) -> StopReason:
        deadline = time.monotonic() + turn.command.number("seconds", 30.0)
        tick = 0
        while time.monotonic() < deadline:
            await turn.say(f"tick {tick}\n")
            tick += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(turn.session.cancelled.wait(), TICK_SECONDS)
            if turn.cancelled:
                return "cancelled"
        return "end_turn"

    async def _crash(self, turn: Turn) -> StopReason:
        await turn.say("About to crash.\n")
        await self._frames.flush()
        for line in ("Traceback (most recent call last):", "RuntimeError: scripted crash"):
            log(line)
        os._exit(3)

    async def _hang(self, turn: Turn) -> StopReason:
        """Never return; `main` keeps the process alive after stdin closes too."""
        self.hanging = True
        if turn.command.option("term", "") == "ignore":
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
        log("hanging on purpose")
        await asyncio.get_running_loop().create_future()
        raise AssertionError("unreachable")

    async def _stderr_flood(self, turn: Turn) -> StopReason:
        mib = turn.command.number("mib", 8)
        size = int(mib * MIB)
        await asyncio.to_thread(write_stderr, size)
        await turn.say(f"Wrote {size} bytes to stderr.")
        return "end_turn"

    async def _garbage(self, turn: Turn) -> StopReason:
        await self._frames.send_lines([b"this is not json"])
        await turn.say("Wrote a line that is not JSON to stdout.")
        return "end_turn"

    async def _oversized(self, turn: Turn) -> StopReason:
        """One valid session/update whose text makes the line `mib` MiB long."""
        size = int(turn.command.number("mib", 16) * MIB)
        head = json.dumps(
            raw_update(
                turn.session_id,
                {"sessionUpdate": "agent_message_chunk", "content": {"type": "text", "text": ""}},
            ),
            separators=(",", ":"),
        ).encode()
        # The empty text is the only `""` in the frame: pad it so the whole line is `size` bytes.
        before, after = head.split(b'""', 1)
        padding = max(size - len(head), 0)
        await self._frames.send_lines([before + b'"' + b"x" * padding + b'"' + after])
        await turn.say(f"Wrote one line of {len(head) + padding} bytes.")
        return "end_turn"

    async def _unknown_method(self, turn: Turn) -> StopReason:
        try:
            result = await self.client.ext_method(UNKNOWN_CLIENT_METHOD, {"probe": True})
        except RequestError as exc:
            await turn.say(f"_{UNKNOWN_CLIENT_METHOD} failed: {describe_error(exc)}")
        else:
            await turn.say(f"_{UNKNOWN_CLIENT_METHOD} answered: {json.dumps(result)}")
        return "end_turn"

    async def _flood(self, turn: Turn) -> StopReason:
        count = int(turn.command.number("n", 1000))
        started = time.perf_counter()
        rate = float(turn.command.options.get("rate") or 0)
        if rate > 0:
            await self._flood_paced(turn.session_id, count, rate)
        elif "raw" in turn.command.positional:
            await self._flood_raw(turn.session_id, count)
        else:
            for index in range(count):
                await turn.send(update_agent_message_text(f"{index}\n"))
        elapsed = time.perf_counter() - started
        log(f"flood: {count} updates written in {elapsed:.3f}s")
        turn.said.append(f"[flood: {count} chunks]")
        return "end_turn"

    async def _chat(self, turn: Turn) -> StopReason:
        steps = max(1, int(turn.command.number("n", 1000)) // 5)
        for step in range(steps):
            path = turn.resolve(f"src/module_{step % 50}.py")
            call_id = turn.new_tool_call_id("edit")
            diff = tool_diff_content(
                path,
                f"def step_{step}():\n    return {step + 1}\n",
                f"def step_{step}():\n    return {step}\n",
            )
            await turn.send(update_agent_thought_text(f"Step {step}: the value is off by one."))
            await turn.send(
                start_tool_call(
                    call_id,
                    f"Edit module_{step % 50}.py",
                    kind="edit",
                    status="pending",
                    content=[diff],
                    locations=[ToolCallLocation(path=path, line=2)],
                )
            )
            await turn.send(update_tool_call(call_id, status="completed"))
            await turn.send(update_agent_message_text(f"Fixed **step {step}**:\n\n"))
            await turn.send(
                update_agent_message_text(f"```python\nassert step_{step}() == {step + 1}\n```\n")
            )
        turn.said.append(f"[chat: {steps} steps]")
        return "end_turn"

    async def _flood_raw(self, session_id: str, count: int) -> None:
        """The same frames as the SDK path, serialized by hand and written `FLOOD_BATCH` per
        write, for when the agent's own pydantic work must not limit a benchmark."""
        prefix = (
            b'{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":'
            + json.dumps(session_id).encode()
            + b',"update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"'
        )
        for start in range(0, count, FLOOD_BATCH):
            indices = range(start, min(start + FLOOD_BATCH, count))
            await self._frames.send_lines([b'%s%d\\n"}}}}' % (prefix, index) for index in indices])

    async def _flood_paced(self, session_id: str, count: int, rate: float) -> None:
        """`rate` updates a second, each with its wall-clock send time ("<index> <time>\\n"),
        so a viewer on the same machine can measure how long each took to reach it."""
        prefix = (
            b'{"jsonrpc":"2.0","method":"session/update","params":{"sessionId":'
            + json.dumps(session_id).encode()
            + b',"update":{"sessionUpdate":"agent_message_chunk","content":{"type":"text","text":"'
        )
        started = time.perf_counter()
        for index in range(count):
            ahead = started + index / rate - time.perf_counter()
            if ahead > 0:
                await asyncio.sleep(ahead)
            line = b'%s%d %.6f\\n"}}}}' % (prefix, index, time.time())
            await self._frames.send_lines([line])

    async def _mode(self, turn: Turn) -> StopReason:
        if turn.command.positional:
            await self._switch_mode(turn.session, turn.command.positional[0])
        await turn.say(f"Mode: {turn.session.mode_id}")
        return "end_turn"

    async def _model(self, turn: Turn) -> StopReason:
        if turn.command.positional:
            await self._switch_model(turn.session, turn.command.positional[0])
        await turn.say(f"Model: {turn.session.model_id}")
        return "end_turn"


def usage_update(used: int) -> UsageUpdate:
    return UsageUpdate(
        session_update="usage_update",
        used=used,
        size=200_000,
        cost=Cost(amount=round(used * 0.00001, 5), currency="USD"),
    )


def describe_error(exc: RequestError) -> str:
    """The client's error as the message shows it: message, code and data."""
    data = f" {json.dumps(exc.data)}" if exc.data is not None else ""
    return f"{exc} (code {exc.code}){data}"


def write_stderr(size: int) -> None:
    """Write `size` bytes to fd 2, blocking until the reader takes them all.

    fd 2 may share its open file with stdout, which asyncio made non-blocking, so a full pipe
    shows up as BlockingIOError here and we wait for it to become writable.
    """
    block = b"stderr flood " * 5041 + b"\n"  # 65534 bytes
    remaining = size
    while remaining > 0:
        data = memoryview(block)[: min(len(block), remaining)]
        remaining -= len(data)
        while data:
            try:
                data = data[os.write(2, data) :]
            except BlockingIOError:
                select.select([], [2], [])


# --------------------------------------------------------------------------------------------
# Entry point
# --------------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="A scripted ACP agent for Corral's tests.")
    parser.add_argument("--state-dir", type=Path, default=os.environ.get(STATE_ENV) or None)
    parser.add_argument("--no-load", action="store_true", help="advertise loadSession=false")
    parser.add_argument("--require-auth", metavar="METHOD", default=None)
    parser.add_argument("--hang-at-start", action="store_true")
    parser.add_argument("--crash-at-start", action="store_true")
    return parser.parse_args(argv)


async def serve(options: Options) -> None:
    reader, writer = await stdio_streams(limit=STDIN_LIMIT)
    frames = StdioFrames(reader, writer)
    agent = ScriptedAgent(options, frames)
    # Fork/resume/close are "unstable" in the SDK and answered -32601 unless this is set.
    await run_agent(agent, frames, use_unstable_protocol=True)
    if agent.hanging:
        await asyncio.get_running_loop().create_future()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.crash_at_start:
        log("fatal: crashing at start on purpose")
        return 1
    if args.hang_at_start:
        log("hanging at start on purpose")
        while True:
            time.sleep(3600)
    state_dir = Path(args.state_dir) if args.state_dir else None
    asyncio.run(serve(Options(state_dir, load=not args.no_load, require_auth=args.require_auth)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
