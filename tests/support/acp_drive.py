"""Drive a real ACP agent process from a test: start it, run turns, answer its requests, and
keep every frame it sent so the test can assert on the exact sequence.

The `acp` SDK does the JSON-RPC; this module handles what it leaves to the caller: the agent
gets exactly the environment we build (never this process's, which may hold real API keys),
its stderr goes to a file so it can never block on a full pipe, it runs in its own process
group and the whole group is killed at the end (Claude Code leaves a `claude` child behind
otherwise), and the raw frames are recorded by an observer because the SDK drops update kinds
and fields its schema does not know.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import acp
from acp.connection import StreamEvent
from acp.schema import (
    AllowedOutcome,
    ClientCapabilities,
    DeniedOutcome,
    FileSystemCapabilities,
    Implementation,
    PermissionOption,
    ReadTextFileResponse,
    RequestPermissionResponse,
    WriteTextFileResponse,
)

__all__ = [
    "AgentLaunch",
    "DrivenAgent",
    "Frame",
    "PermissionPolicy",
    "claude_launch",
    "codex_launch",
    "drive_agent",
    "gemini_launch",
]

PermissionPolicy = Literal["allow", "reject", "cancel"]
STOP_TIMEOUT_SECONDS = 5.0
_LINE_LIMIT = 16 * 1024 * 1024  # some agents send one very long line (commands, diffs)
_ALLOW_KINDS = ("allow_once", "allow_always")
_REJECT_KINDS = ("reject_once", "reject_always")


@dataclass
class AgentLaunch:
    """How to start one agent in ACP mode and what it needs before it can prompt."""

    name: str
    argv: list[str]
    env: dict[str, str]
    #: `authenticate` method id to call after `initialize`, if the agent needs one.
    auth_method: str | None = None
    #: Session mode to switch to after `session/new`, e.g. one that asks permission.
    mode: str | None = None


@dataclass(frozen=True)
class Frame:
    """One raw JSON-RPC message, as it crossed the agent's stdio, with a monotonic time."""

    at: float
    direction: Literal["in", "out"]  # "in": from the agent
    message: dict[str, Any]

    @property
    def method(self) -> str | None:
        return self.message.get("method")


class _Client:
    """The client side: permission answers by policy, file access confined to the session's
    directory, and a record of what the agent asked."""

    def __init__(self, cwd: Path, permission: PermissionPolicy) -> None:
        self.cwd = cwd.resolve()
        self.permission = permission
        self.permission_requests: list[dict[str, Any]] = []
        self.writes: list[tuple[str, str]] = []
        self.reads: list[str] = []

    def _confined(self, path: str) -> Path:
        resolved = Path(path).resolve()
        if not resolved.is_relative_to(self.cwd):
            raise acp.RequestError.invalid_params({"path": path, "reason": "outside the session"})
        return resolved

    async def request_permission(
        self, options: list[PermissionOption], session_id: str, tool_call: Any, **kwargs: Any
    ) -> RequestPermissionResponse:
        self.permission_requests.append(
            {
                "options": [option.model_dump(by_alias=True) for option in options],
                "toolCall": tool_call.model_dump(by_alias=True, exclude_none=True),
            }
        )
        kinds = {"allow": _ALLOW_KINDS, "reject": _REJECT_KINDS}.get(self.permission, ())
        for kind in kinds:
            for option in options:
                if option.kind == kind:
                    outcome = AllowedOutcome(outcome="selected", option_id=option.option_id)
                    return RequestPermissionResponse(outcome=outcome)
        return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        """Updates are recorded raw by the connection's observer, in arrival order."""

    async def read_text_file(
        self,
        path: str,
        session_id: str,
        limit: int | None = None,
        line: int | None = None,
        **kwargs: Any,
    ) -> ReadTextFileResponse:
        target = self._confined(path)
        self.reads.append(str(target))
        # A missing file reads as empty: Gemini CLI does not understand an error here.
        text = target.read_text() if target.is_file() else ""
        if line is not None or limit is not None:
            lines = text.splitlines(keepends=True)
            start = max((line or 1) - 1, 0)
            text = "".join(lines[start : start + limit if limit is not None else None])
        return ReadTextFileResponse(content=text)

    async def write_text_file(
        self, content: str, path: str, session_id: str, **kwargs: Any
    ) -> WriteTextFileResponse:
        target = self._confined(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
        self.writes.append((str(target), content))
        return WriteTextFileResponse()

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise acp.RequestError.method_not_found(method)

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        """Extension notifications are kept in the frame record only."""

    def on_connect(self, conn: Any) -> None:
        """Nothing to set up: the driver holds the connection."""


@dataclass
class DrivenAgent:
    """A running agent and everything it sent; returned by `drive_agent`."""

    launch: AgentLaunch
    cwd: Path
    process: asyncio.subprocess.Process
    conn: acp.ClientSideConnection
    client: _Client
    stderr_path: Path
    frames: list[Frame] = field(default_factory=list)
    session_id: str | None = None
    init: Any = None
    new_session: Any = None

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def updates(self, since: int = 0) -> list[dict[str, Any]]:
        """The raw `update` objects of every session/update from frame `since` on."""
        return [
            frame.message["params"]["update"]
            for frame in self.frames[since:]
            if frame.direction == "in" and frame.method == "session/update"
        ]

    async def start(self, seconds: float = 60.0) -> None:
        """initialize, authenticate if the launch says so, session/new, and set the mode; each
        request bounded by `seconds`."""
        capabilities = ClientCapabilities(
            fs=FileSystemCapabilities(read_text_file=True, write_text_file=True), terminal=False
        )
        self.init = await asyncio.wait_for(
            self.conn.initialize(
                protocol_version=acp.PROTOCOL_VERSION,
                client_capabilities=capabilities,
                client_info=Implementation(name="corral-tests", version="0"),
            ),
            seconds,
        )
        if self.launch.auth_method:
            await asyncio.wait_for(
                self.conn.authenticate(method_id=self.launch.auth_method), seconds
            )
        self.new_session = await asyncio.wait_for(
            self.conn.new_session(cwd=str(self.cwd), mcp_servers=[]), seconds
        )
        self.session_id = self.new_session.session_id
        if self.launch.mode:
            await asyncio.wait_for(
                self.conn.set_session_mode(session_id=self.session_id, mode_id=self.launch.mode),
                seconds,
            )

    async def prompt(self, text: str, seconds: float = 120.0) -> Any:
        """One turn, bounded by `seconds`; returns the PromptResponse (its `stop_reason`)."""
        assert self.session_id is not None
        return await asyncio.wait_for(
            self.conn.prompt(session_id=self.session_id, prompt=[acp.text_block(text)]), seconds
        )

    async def cancel(self) -> None:
        assert self.session_id is not None
        await self.conn.cancel(session_id=self.session_id)


@asynccontextmanager
async def drive_agent(
    launch: AgentLaunch,
    cwd: Path,
    log_dir: Path,
    *,
    permission: PermissionPolicy = "allow",
) -> AsyncIterator[DrivenAgent]:
    """Start `launch` in `cwd`, its stderr in `log_dir`, and kill its process group on exit."""
    stderr_path = _stderr_file(log_dir, launch.name)
    client = _Client(cwd, permission)
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            *launch.argv,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=launch.env,
            cwd=str(cwd),
            start_new_session=True,
            limit=_LINE_LIMIT,
        )
    assert process.stdin is not None and process.stdout is not None
    frames: list[Frame] = []

    def observe(event: StreamEvent) -> None:
        # Called synchronously as each frame is read or written, so the order is the wire's.
        direction: Literal["in", "out"] = "in" if event.direction.value == "incoming" else "out"
        frames.append(Frame(time.monotonic(), direction, event.message))

    try:
        conn = acp.connect_to_agent(
            client,  # type: ignore[arg-type]  # no terminal methods: the client says so
            process.stdin,
            process.stdout,
            observers=[observe],
        )
        try:
            yield DrivenAgent(launch, cwd, process, conn, client, stderr_path, frames)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), STOP_TIMEOUT_SECONDS)
    finally:
        await _stop_group(process)


def _stderr_file(log_dir: Path, name: str) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    return log_dir / f"{name}-{time.monotonic_ns()}.stderr"


async def _stop_group(process: asyncio.subprocess.Process) -> None:
    """Close stdin (a polite agent exits), then SIGTERM and, if needed, SIGKILL every process
    left in the agent's group, waiting a bounded time after each."""
    if process.stdin is not None:
        with contextlib.suppress(Exception):
            process.stdin.close()
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(process.wait(), 1.0)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not _live_members(process.pid):
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, sig)
        await asyncio.to_thread(_wait_group_gone, process.pid, STOP_TIMEOUT_SECONDS)
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(process.wait(), STOP_TIMEOUT_SECONDS)


def _wait_group_gone(pgid: int, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while _live_members(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _live_members(pgid: int) -> list[int]:
    """The PIDs in process group `pgid` that are not zombies (Linux /proc). Orphaned members
    are reaped by PID 1 in its own time, so a zombie must not count as still running."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry.name))
    return members


# --- the three agents, pointed at a scripted model server ----------------------------------


def _base_env(home: Path, bin_dirs: Sequence[Path], extra: Mapping[str, str]) -> dict[str, str]:
    """A clean environment: a private HOME and TMPDIR, node and the agent on PATH, nothing
    else from this process (which may carry real provider keys or a user's config)."""
    tmp = home / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    path = os.pathsep.join([*(str(d) for d in bin_dirs), "/usr/local/bin", "/usr/bin", "/bin"])
    env = {
        "HOME": str(home),
        "PATH": path,
        "TMPDIR": str(tmp),
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "NO_COLOR": "1",
        "USER": os.environ.get("USER", "root"),
        "SHELL": "/bin/bash",
    }
    env.update(extra)
    return env


def claude_launch(prefix: Path, base_url: str, home: Path) -> AgentLaunch:
    """claude-agent-acp from an npm prefix, talking Anthropic Messages to `base_url`.

    0.100+ starts a session in `auto` mode, which asks no permission; `default` asks before
    every edit. No `authenticate` is needed: the adapter offers no method for an API key.
    """
    env = _base_env(
        home,
        [prefix / "node_modules" / ".bin"],
        {
            "ANTHROPIC_BASE_URL": base_url,
            "ANTHROPIC_API_KEY": "sk-ant-test",
            # No "what will the user type next" request after each turn: it is a model request
            # the script would otherwise have to expect.
            "CLAUDE_CODE_ENABLE_PROMPT_SUGGESTION": "false",
        },
    )
    argv = [str(prefix / "node_modules" / ".bin" / "claude-agent-acp")]
    return AgentLaunch("claude", argv, env, mode="default")


def codex_launch(prefix: Path, base_url: str, home: Path) -> AgentLaunch:
    """codex-acp from an npm prefix, with a local Responses API provider at `base_url`.

    The model must be a slug Codex knows, or it offers no `apply_patch` tool. TMPDIR (under
    HOME) must not contain CODEX_HOME, or Codex does not create its sandbox helper. A session
    starts in the `read-only` preset: every patch asks permission, but an approved patch still
    cannot create a directory; `-c sandbox_mode="workspace-write" -c
    approval_policy="untrusted"` can, and then the session reports no modes.
    """
    codex_home = home / ".codex"
    codex_home.mkdir(parents=True, exist_ok=True)
    env = _base_env(
        home,
        [prefix / "node_modules" / ".bin"],
        {"OPENAI_API_KEY": "sk-test", "CODEX_HOME": str(codex_home)},
    )
    overrides = {
        "model_provider": '"local"',
        "model_providers.local.name": '"local"',
        "model_providers.local.base_url": f'"{base_url}/v1"',
        "model_providers.local.env_key": '"OPENAI_API_KEY"',
        "model_providers.local.wire_api": '"responses"',
        "model": '"gpt-5.3-codex"',
    }
    argv = [str(prefix / "node_modules" / ".bin" / "codex-acp")]
    for key, value in overrides.items():
        argv += ["-c", f"{key}={value}"]
    return AgentLaunch("codex", argv, env, auth_method="openai-api-key")


def gemini_launch(prefix: Path, base_url: str, home: Path) -> AgentLaunch:
    """gemini --acp from an npm prefix, talking the Gemini API to `base_url`.

    Its `default` mode asks before edits; in an untrusted folder (every test folder) answer
    with allow_once, since allow_always fails there.
    """
    env = _base_env(
        home,
        [prefix / "node_modules" / ".bin"],
        {"GEMINI_API_KEY": "test-key", "GOOGLE_GEMINI_BASE_URL": base_url},
    )
    argv = [str(prefix / "node_modules" / ".bin" / "gemini"), "--acp"]
    return AgentLaunch("gemini", argv, env, auth_method="gemini-api-key")
