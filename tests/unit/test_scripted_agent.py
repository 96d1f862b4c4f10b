"""The scripted ACP agent that stands in for real coding agents, driven by the SDK's client side.

Other tests trust this agent to behave as its scenarios promise, so each promise that a client
test depends on is checked here against the SDK's own client. Unknown update kinds never reach a
`Client` (the SDK's schema rejects them), so every test also records the raw incoming frames
through the connection's observer hook, which sees each message before it is parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from acp import RequestError, connect_to_agent, text_block
from acp.client.connection import ClientSideConnection
from acp.connection import StreamDirection, StreamEvent
from acp.schema import (
    AllowedOutcome,
    ClientCapabilities,
    CreateTerminalResponse,
    DeniedOutcome,
    EnvVariable,
    FileSystemCapabilities,
    KillTerminalResponse,
    PermissionOption,
    PlanCapabilities,
    ReadTextFileResponse,
    ReleaseTerminalResponse,
    RequestPermissionResponse,
    TerminalOutputResponse,
    ToolCallUpdate,
    WaitForTerminalExitResponse,
    WriteTextFileResponse,
)

from tests.support.waits import eventually

AGENT = Path(__file__).resolve().parents[1] / "support" / "scripted_agent.py"
WAIT_SECONDS = 5.0
EXIT_SECONDS = 3.0
T = TypeVar("T")

EVERY_KIND = {
    "user_message_chunk",
    "agent_message_chunk",
    "agent_thought_chunk",
    "tool_call",
    "tool_call_update",
    "plan",
    "plan_update",
    "plan_removed",
    "available_commands_update",
    "current_mode_update",
    "config_option_update",
    "session_info_update",
    "usage_update",
    "future_kind_xyz",
}


class RecordingClient:
    """The client side of the SDK's `Client` protocol: files are real, permission is scripted."""

    def __init__(self, choice: str | None) -> None:
        self.choice = choice  # option id to select; None answers `cancelled`
        self.updates: list[Any] = []
        self.writes: list[tuple[str, str]] = []

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        self.updates.append(update)

    async def request_permission(
        self, session_id: str, tool_call: ToolCallUpdate, options: list[PermissionOption], **kw: Any
    ) -> RequestPermissionResponse:
        if self.choice is None:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id=self.choice)
        )

    async def write_text_file(
        self, session_id: str, path: str, content: str, **kwargs: Any
    ) -> WriteTextFileResponse | None:
        self.writes.append((path, content))
        await asyncio.to_thread(Path(path).write_text, content, encoding="utf-8")
        return WriteTextFileResponse()

    async def read_text_file(
        self,
        session_id: str,
        path: str,
        line: int | None = None,
        limit: int | None = None,
        **kwargs: Any,
    ) -> ReadTextFileResponse:
        content = await asyncio.to_thread(Path(path).read_text, encoding="utf-8")
        return ReadTextFileResponse(content=content)

    async def create_terminal(
        self,
        session_id: str,
        command: str,
        args: list[str] | None = None,
        env: list[EnvVariable] | None = None,
        cwd: str | None = None,
        output_byte_limit: int | None = None,
        **kwargs: Any,
    ) -> CreateTerminalResponse:
        raise RequestError.method_not_found("terminal/create")

    async def terminal_output(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> TerminalOutputResponse:
        raise RequestError.method_not_found("terminal/output")

    async def release_terminal(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> ReleaseTerminalResponse | None:
        raise RequestError.method_not_found("terminal/release")

    async def wait_for_terminal_exit(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> WaitForTerminalExitResponse:
        raise RequestError.method_not_found("terminal/wait_for_exit")

    async def kill_terminal(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> KillTerminalResponse | None:
        raise RequestError.method_not_found("terminal/kill")

    async def create_elicitation(self, message: str, mode: Any, **kwargs: Any) -> Any:
        raise RequestError.method_not_found("elicitation/create")

    async def complete_elicitation(self, elicitation_id: str, **kwargs: Any) -> None:
        return None

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise RequestError.method_not_found(f"_{method}")

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        return None

    def on_connect(self, conn: Any) -> None:
        return None


@dataclass
class RunningAgent:
    process: asyncio.subprocess.Process
    conn: ClientSideConnection
    client: RecordingClient
    workspace: Path
    stderr_path: Path
    frames: list[dict[str, Any]]  # every message from the agent, raw, in arrival order

    def update_frames(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [
            frame["params"]["update"]
            for frame in self.frames
            if frame.get("method") == "session/update"
            and (kind is None or frame["params"]["update"].get("sessionUpdate") == kind)
        ]

    async def new_session(self) -> str:
        response = await bounded(self.conn.new_session(cwd=str(self.workspace), mcp_servers=[]))
        return response.session_id

    async def prompt(self, session_id: str, text: str) -> str:
        coroutine = self.conn.prompt(session_id=session_id, prompt=[text_block(text)])
        return (await bounded(coroutine)).stop_reason


async def bounded(awaitable: Awaitable[T], seconds: float = WAIT_SECONDS) -> T:
    return await asyncio.wait_for(awaitable, seconds)


def agent_env(home: Path) -> dict[str, str]:
    """Only what the agent needs: the SDK would otherwise pass a trimmed copy of ours."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "PYTHONUTF8": "1"}


def agent_paths(tmp_path: Path) -> tuple[Path, Path]:
    """The shared workspace, and a fresh stderr log per agent process (a test may start two)."""
    workspace = tmp_path / "workspace"
    workspace.mkdir(exist_ok=True)
    return workspace, tmp_path / f"agent-{len(list(tmp_path.glob('agent-*.log')))}.log"


@contextlib.asynccontextmanager
async def scripted_agent(
    tmp_path: Path, *flags: str, choice: str | None = "allow", plan: bool = False
) -> AsyncIterator[RunningAgent]:
    """Start the agent in its own process group, stderr to a file, and initialize it."""
    workspace, stderr_path = agent_paths(tmp_path)
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(AGENT),
            *flags,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=stderr,
            env=agent_env(tmp_path),
            cwd=workspace,
            start_new_session=True,
        )
    assert process.stdin is not None and process.stdout is not None
    client = RecordingClient(choice)
    frames: list[dict[str, Any]] = []

    def observe(event: StreamEvent) -> None:
        if event.direction is StreamDirection.INCOMING:
            frames.append(event.message)

    conn = connect_to_agent(client, process.stdin, process.stdout, observers=[observe])
    agent = RunningAgent(process, conn, client, workspace, stderr_path, frames)
    try:
        capabilities = ClientCapabilities(
            fs=FileSystemCapabilities(read_text_file=True, write_text_file=True),
            plan=PlanCapabilities() if plan else None,
        )
        await bounded(agent.conn.initialize(protocol_version=1, client_capabilities=capabilities))
        yield agent
    finally:
        await stop(agent)


async def stop(agent: RunningAgent) -> None:
    """Close stdin and wait; kill the whole group if the agent does not leave by itself."""
    process = agent.process
    if process.stdin is not None and not process.stdin.is_closing():
        process.stdin.close()
    try:
        await asyncio.wait_for(process.wait(), EXIT_SECONDS)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
    await agent.conn.close()


async def test_all_updates_sends_every_kind_including_an_unknown_one(tmp_path: Path) -> None:
    async with scripted_agent(tmp_path, plan=True) as agent:
        session_id = await agent.new_session()
        assert await agent.prompt(session_id, "all-updates") == "end_turn"
        await eventually(
            lambda: len(agent.update_frames("usage_update")) == 2,
            "the usage_update after the turn",
            wait_seconds=WAIT_SECONDS,
        )

    kinds = {update["sessionUpdate"] for update in agent.update_frames()}
    assert kinds == EVERY_KIND
    assert {"sessionUpdate": "future_kind_xyz", "foo": 1} in agent.update_frames()
    # The SDK drops what its schema does not know: the unknown kind, and the unknown field.
    parsed = {update.session_update for update in agent.client.updates}
    assert parsed == EVERY_KIND - {"future_kind_xyz"}
    assert any("futureField" in update for update in agent.update_frames("agent_message_chunk"))

    tool_call = agent.update_frames("tool_call")[0]
    assert tool_call["kind"] == "edit" and tool_call["locations"]
    assert tool_call["content"][0].keys() >= {"type", "path", "oldText", "newText"}
    statuses = [update["status"] for update in agent.update_frames("tool_call_update")]
    assert statuses == ["in_progress", "completed"]
    plan = agent.update_frames("plan")[0]
    assert {entry["status"] for entry in plan["entries"]} == {"pending", "in_progress", "completed"}

    # One usage_update arrives after the prompt's result, like some real agents send it.
    result_at = next(i for i, f in enumerate(agent.frames) if "stopReason" in f.get("result", {}))
    last_update_at = max(i for i, f in enumerate(agent.frames) if f.get("method"))
    assert agent.frames[last_update_at]["params"]["update"]["sessionUpdate"] == "usage_update"
    assert last_update_at > result_at


async def test_permission_allowed_writes_through_the_client(tmp_path: Path) -> None:
    async with scripted_agent(tmp_path, choice="allow") as agent:
        session_id = await agent.new_session()
        stop_reason = await agent.prompt(session_id, 'permission path=notes.txt content="hi there"')

    target = agent.workspace / "notes.txt"
    assert stop_reason == "end_turn"
    assert agent.client.writes == [(str(target), "hi there")]
    assert target.read_text(encoding="utf-8") == "hi there"
    methods = [frame.get("method") for frame in agent.frames if "method" in frame]
    assert methods.index("session/request_permission") < methods.index("fs/write_text_file")
    final = agent.update_frames("tool_call_update")[-1]
    assert final["status"] == "completed"
    assert final["content"] == [{"type": "diff", "path": str(target), "newText": "hi there"}]


@pytest.mark.parametrize(("choice", "stop_reason"), [("reject", "end_turn"), (None, "cancelled")])
async def test_permission_refused_writes_nothing(
    tmp_path: Path, choice: str | None, stop_reason: str
) -> None:
    async with scripted_agent(tmp_path, choice=choice) as agent:
        session_id = await agent.new_session()
        assert await agent.prompt(session_id, "permission path=notes.txt") == stop_reason

    assert agent.client.writes == []
    assert not (agent.workspace / "notes.txt").exists()
    assert agent.update_frames("tool_call_update")[-1]["status"] == "failed"


async def test_slow_turn_stops_promptly_when_cancelled(tmp_path: Path) -> None:
    async with scripted_agent(tmp_path) as agent:
        session_id = await agent.new_session()
        turn = asyncio.create_task(agent.prompt(session_id, "slow seconds=30"))
        await eventually(
            lambda: len(agent.update_frames("agent_message_chunk")) >= 2,
            "two ticks",
            wait_seconds=WAIT_SECONDS,
        )
        cancelled_at = time.monotonic()
        await agent.conn.cancel(session_id=session_id)
        assert await bounded(turn, 2.0) == "cancelled"
        assert time.monotonic() - cancelled_at < 1.0


async def test_crash_ends_the_process_with_code_3(tmp_path: Path) -> None:
    async with scripted_agent(tmp_path) as agent:
        session_id = await agent.new_session()
        with pytest.raises(ConnectionError):
            await agent.prompt(session_id, "crash")
        assert await bounded(agent.process.wait()) == 3
    assert "scripted crash" in agent.stderr_path.read_text(encoding="utf-8")


async def test_a_new_process_loads_and_replays_a_saved_session(tmp_path: Path) -> None:
    state = str(tmp_path / "state")
    async with scripted_agent(tmp_path, "--state-dir", state) as first:
        session_id = await first.new_session()
        assert await first.prompt(session_id, "hello again") == "end_turn"

    async with scripted_agent(tmp_path, "--state-dir", state) as second:
        await bounded(
            second.conn.load_session(
                cwd=str(second.workspace), session_id=session_id, mcp_servers=[]
            )
        )
    replay = [(u["sessionUpdate"], u["content"]["text"]) for u in second.update_frames()]
    assert replay == [("user_message_chunk", "hello again"), ("agent_message_chunk", "hello again")]


async def test_required_auth_gates_new_sessions(tmp_path: Path) -> None:
    async with scripted_agent(tmp_path, "--require-auth", "scripted-login") as agent:
        with pytest.raises(RequestError) as refused:
            await agent.new_session()
        assert refused.value.code == -32000
        await bounded(agent.conn.authenticate(method_id="scripted-login"))
        assert await agent.new_session()


async def test_legacy_set_model_is_answered_with_a_config_update(tmp_path: Path) -> None:
    """The SDK's client has no session/set_model any more: write the request as a raw line."""
    async with scripted_agent(tmp_path) as agent:
        session_id = await agent.new_session()
        request = {
            "jsonrpc": "2.0",
            "id": "legacy-1",
            "method": "session/set_model",
            "params": {"sessionId": session_id, "modelId": "smart"},
        }
        assert agent.process.stdin is not None
        agent.process.stdin.write(json.dumps(request).encode() + b"\n")
        await eventually(
            lambda: any(f.get("id") == "legacy-1" for f in agent.frames),
            "the answer to session/set_model",
            wait_seconds=WAIT_SECONDS,
        )

    response = next(frame for frame in agent.frames if frame.get("id") == "legacy-1")
    assert response["result"] == {}
    [update] = agent.update_frames("config_option_update")
    assert update["configOptions"][0]["currentValue"] == "smart"
