"""One agent session on a node: the agent process, and Corral as its ACP client.

The host installs the agent if needed, starts it inside the workspace's sandbox in a process
group of its own, and speaks ACP to it: `initialize`, `authenticate` where the catalog says so,
`session/new` (or `session/load` to continue an earlier conversation), then one turn per
prompt, in order. It serves the agent's requests: files (confined to the workspace), commands
(ACP's terminals: real processes in the workspace) and permission requests (the policy answers,
or a user does). Everything it sees becomes a session event through `emit`.

The session runs on its own: nobody needs to watch it. It ends when stopped (the whole process
group is killed, so nothing is left behind) or when the agent fails: it exits, breaks the
protocol, or does not answer its handshake or a cancel in time. A failure puts the session in
`error` with the reason and the last lines of the agent's stderr.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from corral import __version__
from corral.errors import CorralError
from corral.node.acp.commands import AgentCommands
from corral.node.acp.files import AgentFiles
from corral.node.acp.install import AgentInstaller
from corral.node.acp.permissions import Emit, PermissionRequests
from corral.node.acp.rpc import (
    INVALID_PARAMS,
    METHOD_NOT_FOUND,
    AgentProtocolError,
    AgentRpc,
    RpcError,
)
from corral.node.runtimes.base import AgentProgram, Runtime, WorkspaceHandle
from corral.node.settings import SessionSettings
from corral.protocol.agents import Quirk
from corral.protocol.sessions import SessionEventKind, SessionPrompt, SessionStart
from corral.states import SessionState

__all__ = ["SessionHost"]

log = logging.getLogger("corral.node.acp")

ACP_PROTOCOL_VERSION = 1
AUTH_REQUIRED = -32000
STDERR_TAIL_LINES = 30
STDERR_LINE_CHARS = 500


class _Failed(Exception):
    """The session cannot go on; the message says why, for the user."""


class SessionHost:
    def __init__(
        self,
        start: SessionStart,
        *,
        runtime: Runtime,
        handle: WorkspaceHandle,
        installer: AgentInstaller,
        emit: Emit,
        settings: SessionSettings,
        ready: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`ready` is awaited before each read of the agent's output (see `AgentRpc`)."""
        self.start = start
        self.id = start.session_id
        self.runtime = runtime
        self.handle = handle
        self.installer = installer
        self.settings = settings
        self._emit = emit
        self._ready = ready
        self.state = SessionState.STARTING
        self.process: asyncio.subprocess.Process | None = None
        self._rpc: AgentRpc | None = None
        self._acp_id: str | None = None
        self._queue: asyncio.Queue[SessionPrompt] = asyncio.Queue()
        self._turn: SessionPrompt | None = None
        self._context: str | None = None
        """The earlier transcript, for the first prompt, when the agent could not load it."""
        self._permissions = PermissionRequests(start, emit=emit, waiting=self._permission_waiting)
        self._config_options: list[dict[str, Any]] = []
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        self._failure: str | None = None
        self._stopping = False
        self._replaying = False
        self._main: asyncio.Task[None] | None = None
        self._watchers: list[asyncio.Task[None]] = []
        self._cancel_watch: asyncio.Task[None] | None = None
        self._commands = AgentCommands(runtime, handle, emit=self._emit_command)
        self._files = AgentFiles(
            runtime.files(handle, max_read_bytes=settings.max_file_read_bytes),
            repo=handle.repo,
            missing_reads_empty=Quirk.MISSING_FILE_READS_EMPTY in start.agent.quirks,
        )

    # -- the session's life ----------------------------------------------------------------------

    async def run(self) -> None:
        """Start the agent and serve prompts until stopped or failed. Never raises."""
        self._main = asyncio.current_task()
        try:
            await self._launch()
            self._set_state(SessionState.IDLE)
            while True:
                prompt = await self._queue.get()
                await self._run_turn(prompt)
        except asyncio.CancelledError:
            if self._failure is None and not self._stopping:
                self._stopping = True  # the node is shutting down
        except _Failed as exc:
            self._failure = str(exc)
        except CorralError as exc:
            self._failure = exc.message
        except Exception:
            log.exception("session %s failed", self.id)
            self._failure = "the node failed to run the session"
        finally:
            await self._end()

    async def _end(self) -> None:
        try:
            self._permissions.close()
            if self._rpc is not None:
                self._rpc.close("the session ended")
            if self.process is not None:
                await self.runtime.kill(self.process)
            await self._commands.close()
            tasks = [*self._watchers, *([self._cancel_watch] if self._cancel_watch else [])]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            # Whatever interrupts the cleanup, the control plane must learn how it ended.
            if self._failure is not None:
                self._set_state(SessionState.ERROR, reason=self._failure, stderr=list(self._stderr))
            else:
                self._set_state(SessionState.STOPPED, reason="stopped")

    def _fail(self, reason: str) -> None:
        """End the session with `reason`, unless it is already ending. From a watcher this
        cancels the main task; the main task itself raises `_Failed` after calling it."""
        if self._failure is None and not self._stopping:
            self._failure = reason
            if self._main is not None and self._main is not asyncio.current_task():
                self._main.cancel()

    async def stop(self) -> None:
        self._stopping = True
        if self._main is not None and not self._main.done():
            self._main.cancel()
            await asyncio.gather(self._main, return_exceptions=True)

    @property
    def ended(self) -> bool:
        return self.state in (SessionState.STOPPED, SessionState.ERROR)

    def _set_state(self, state: SessionState, **details: Any) -> None:
        if self.state == state and not details:
            return
        self.state = state
        payload: dict[str, Any] = {"state": state.value, **details}
        if self._acp_id is not None:
            payload["acp_session_id"] = self._acp_id
        self._emit(SessionEventKind.STATE, payload)

    # -- starting ------------------------------------------------------------------------------

    async def _launch(self) -> None:
        agent = self.start.agent

        def progress(line: str) -> None:
            self._emit(SessionEventKind.INSTALL, {"line": line})

        argv, cache = await self.installer.ensure(agent, progress)
        if self.runtime.sandboxed:
            argv += agent.sandboxed_args
        # Each agent has a HOME of its own in the workspace: its config and logins (~/.claude,
        # ~/.codex) stay apart from the user's shell and from other agents.
        home = self.handle.home / ".agents" / agent.name
        self._files.make_dirs(str(home))
        try:
            self.process = await self.runtime.spawn_agent(
                self.handle,
                AgentProgram(argv=tuple(argv), install_dir=cache),
                env={**self.start.env, "HOME": str(home)},
                progress=progress,
            )
        except FileNotFoundError as exc:
            raise _Failed(f"cannot start {agent.name}: {exc.strerror}: {argv[0]}") from None
        assert self.process.stdin and self.process.stdout and self.process.stderr
        self._rpc = AgentRpc(
            self.process.stdout,
            self.process.stdin,
            on_request=self._on_request,
            on_notification=self._on_notification,
            max_line_bytes=self.settings.max_line_bytes,
            ready=self._ready,
        )
        self._watchers = [
            asyncio.create_task(self._watch_stdout(), name=f"{self.id} stdout"),
            asyncio.create_task(self._drain_stderr(self.process.stderr), name=f"{self.id} stderr"),
        ]
        try:
            async with asyncio.timeout(self.settings.start_timeout_seconds):
                await self._handshake()
        except TimeoutError:
            raise _Failed(
                f"{agent.name} did not start within {self.settings.start_timeout_seconds:g} s"
            ) from None

    async def _call(self, method: str, params: dict[str, Any], **kw: Any) -> Any:
        assert self._rpc is not None
        try:
            return await self._rpc.call(method, params, timeout_seconds=kw.get("timeout"))
        except ConnectionError:
            await self._wait_for_exit_reason()
            raise _Failed(self._failure or "the agent closed its connection") from None

    async def _handshake(self) -> None:
        agent = self.start.agent
        init = await self._call(
            "initialize",
            {
                "protocolVersion": ACP_PROTOCOL_VERSION,
                "clientCapabilities": {
                    "fs": {"readTextFile": True, "writeTextFile": True},
                    "terminal": True,
                },
                "clientInfo": {"name": "corral", "title": "Corral", "version": __version__},
            },
        )
        init = init if isinstance(init, dict) else {}
        capabilities = init.get("agentCapabilities") or {}
        methods = [m.get("id") for m in init.get("authMethods") or [] if isinstance(m, dict)]
        if agent.auth_method is not None:
            if agent.auth_method not in methods:
                raise _Failed(
                    f"{agent.name} does not offer the sign-in method {agent.auth_method!r} "
                    f"(it offers {', '.join(map(str, methods)) or 'none'})"
                )
            await self._guarded("authenticate", {"methodId": agent.auth_method})
        cwd = str(self.handle.repo)
        load_id = self.start.load_session_id
        if load_id and capabilities.get("loadSession"):
            self._replaying = True  # the transcript already holds what the agent replays
            try:
                result = await self._guarded(
                    "session/load", {"sessionId": load_id, "cwd": cwd, "mcpServers": []}
                )
            finally:
                self._replaying = False
            self._acp_id = load_id
        else:
            result = await self._guarded("session/new", {"cwd": cwd, "mcpServers": []})
            if not isinstance(result, dict) or not isinstance(result.get("sessionId"), str):
                raise _Failed(f"{agent.name} answered session/new without a session id")
            self._acp_id = result["sessionId"]
            if load_id:
                self._context = self.start.context
                self._notice(
                    "resumed_with_summary",
                    message=f"{agent.name} cannot load earlier sessions: this is a new "
                    "session, and the first prompt carries a summary of the conversation",
                )
        result = result if isinstance(result, dict) else {}
        self._config_options = [o for o in result.get("configOptions") or [] if isinstance(o, dict)]
        self._notice(
            "agent_ready",
            message=f"{agent.name} is ready",
            agent_info=init.get("agentInfo"),
            modes=result.get("modes"),
            models=result.get("models"),
            config_options=self._config_options,
            load_session=bool(capabilities.get("loadSession")),
            cwd=cwd,
        )
        modes = result.get("modes") or {}
        available = {m.get("id") for m in modes.get("availableModes") or [] if isinstance(m, dict)}
        for mode in (agent.initial_mode, self.start.mode):
            if mode and mode in available and mode != modes.get("currentModeId"):
                await self.set_mode(mode)
        if self.start.model:
            await self.set_model(self.start.model)

    async def _guarded(self, method: str, params: dict[str, Any]) -> Any:
        """A start-up call whose errors end the session with the agent's words."""
        try:
            return await self._call(method, params)
        except RpcError as exc:
            if exc.code == AUTH_REQUIRED:
                raise _Failed(
                    f"{self.start.agent.name} needs to sign in ({exc.message}): set a credential "
                    f"for it with `corral agent configure {self.start.agent.name} --credential`"
                ) from None
            raise _Failed(f"{self.start.agent.name} refused {method}: {exc.message}") from None

    # -- watching the process ----------------------------------------------------------------

    async def _watch_stdout(self) -> None:
        assert self._rpc is not None
        try:
            await self._rpc.run()
        except AgentProtocolError as exc:
            self._fail(str(exc))
            return
        except Exception as exc:
            self._fail(f"reading from the agent failed: {exc}")
            return
        await self._wait_for_exit_reason()
        self._fail(self._failure or "the agent closed its output")

    async def _wait_for_exit_reason(self) -> None:
        if self.process is None or self._failure is not None or self._stopping:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.settings.exit_grace_seconds):
                code = await self.process.wait()
                await asyncio.sleep(0.05)  # let stderr's last lines in
                self._fail(f"the agent exited with code {code}")

    async def _drain_stderr(self, stderr: asyncio.StreamReader) -> None:
        """Read stderr as fast as it comes (an agent blocked on a full pipe hangs) and keep
        its last lines for the error report."""
        pending = b""
        while chunk := await stderr.read(64 * 1024):
            lines = (pending + chunk).split(b"\n")
            pending = lines.pop()[-STDERR_LINE_CHARS:]
            for line in lines[-STDERR_TAIL_LINES:]:
                text = line.decode(errors="replace").rstrip()
                if text:
                    self._stderr.append(text[:STDERR_LINE_CHARS])
        if pending.strip():
            self._stderr.append(pending.decode(errors="replace")[:STDERR_LINE_CHARS])

    # -- turns -----------------------------------------------------------------------------------

    def prompt(self, prompt: SessionPrompt) -> int:
        """Queue a prompt; returns how many are waiting before it starts (0: starts now)."""
        if self.ended:
            raise CorralError(f"session {self.id} has ended", reason="session_ended")
        waiting = self._queue.qsize() + (1 if self._turn is not None else 0)
        self._queue.put_nowait(prompt)
        if waiting:
            self._notice("prompt_queued", prompt_id=prompt.prompt_id, text=prompt.text)
        return waiting

    def _blocks(self, prompt: SessionPrompt) -> list[dict[str, Any]]:
        """The prompt as ACP content: its text (after the earlier transcript, when the agent
        could not load it) and a resource link per attached file of the workspace."""
        links = [self._files.resource_link(resource) for resource in prompt.resources]
        text = prompt.text
        if self._context:
            text = f"{self._context}\n\n{text}"
            self._context = None
        return [{"type": "text", "text": text}, *links]

    async def _run_turn(self, prompt: SessionPrompt) -> None:
        self._turn = prompt
        self._emit(
            SessionEventKind.PROMPT,
            {"prompt_id": prompt.prompt_id, "text": prompt.text, "resources": prompt.resources},
        )
        self._set_state(SessionState.RUNNING)
        try:
            blocks = self._blocks(prompt)  # a missing attachment fails this turn only
            result = await self._call(
                "session/prompt", {"sessionId": self._acp_id, "prompt": blocks}
            )
        except RpcError as exc:
            message = exc.message
            if exc.code == AUTH_REQUIRED:
                message = f"the agent needs to sign in: {exc.message}"
            self._emit(
                SessionEventKind.TURN_END,
                {"prompt_id": prompt.prompt_id, "error": message, "code": exc.code},
            )
        else:
            result = result if isinstance(result, dict) else {}
            self._emit(
                SessionEventKind.TURN_END,
                {
                    "prompt_id": prompt.prompt_id,
                    "stop_reason": result.get("stopReason"),
                    "usage": result.get("usage"),
                },
            )
        finally:
            self._turn = None
            if self._cancel_watch is not None:
                self._cancel_watch.cancel()
                self._cancel_watch = None
        self._set_state(SessionState.IDLE)

    async def cancel(self) -> None:
        """Cancel the running turn (its pending permission requests are answered `cancelled`)
        and drop the prompts queued behind it."""
        dropped = []
        while not self._queue.empty():
            dropped.append(self._queue.get_nowait().prompt_id)
        if dropped:
            self._notice("prompts_dropped", prompt_ids=dropped, message="cancelled")
        if self._turn is None or self._rpc is None:
            return
        self._permissions.cancel()
        with contextlib.suppress(ConnectionError):
            await self._rpc.notify("session/cancel", {"sessionId": self._acp_id})
        if self._cancel_watch is None:
            self._cancel_watch = asyncio.create_task(self._expect_turn_end())

    async def _expect_turn_end(self) -> None:
        await asyncio.sleep(self.settings.cancel_grace_seconds)
        if self._turn is not None:
            self._fail(
                f"the agent did not end its turn within {self.settings.cancel_grace_seconds:g} s "
                "of being cancelled"
            )

    async def set_mode(self, mode_id: str) -> None:
        await self._setting("session/set_mode", {"sessionId": self._acp_id, "modeId": mode_id})

    async def set_model(self, model_id: str) -> None:
        """Through the model config option where the agent has one, else the older
        `session/set_model`."""
        option = next((o for o in self._config_options if o.get("category") == "model"), None)
        if option is not None:
            await self._setting(
                "session/set_config_option",
                {"sessionId": self._acp_id, "configId": option.get("id"), "value": model_id},
            )
        else:
            await self._setting(
                "session/set_model", {"sessionId": self._acp_id, "modelId": model_id}
            )

    async def _setting(self, method: str, params: dict[str, Any]) -> None:
        if self._acp_id is None:
            raise CorralError("the agent has not started yet", reason="session_starting")
        try:
            await self._call(method, params, timeout=self.settings.start_timeout_seconds)
        except RpcError as exc:
            raise CorralError(f"the agent refused {method}: {exc.message}") from None

    # -- permission requests ---------------------------------------------------------------------

    def answer_permission(self, request_id: str, option_id: str | None, by: str | None) -> None:
        self._permissions.answer(request_id, option_id, by)

    def permission_pending(self) -> list[str]:
        return self._permissions.pending()

    def _permission_waiting(self, waiting: bool) -> None:
        if waiting:
            self._set_state(SessionState.AWAITING_PERMISSION)
        elif self.state == SessionState.AWAITING_PERMISSION:
            self._set_state(SessionState.RUNNING)

    # -- the agent's requests and notifications --------------------------------------------------

    def _on_notification(self, method: str, params: Any) -> None:
        if method != "session/update":
            log.info("session %s: ignoring the agent's %s notification", self.id, method)
            return
        update = params.get("update") if isinstance(params, dict) else None
        if not isinstance(update, dict) or not isinstance(update.get("sessionUpdate"), str):
            log.info("session %s: ignoring a session/update without an update", self.id)
            return
        kind = update["sessionUpdate"]
        if kind in ("tool_call", "tool_call_update"):
            self._permissions.note_tool_call(update)
        elif kind == "config_option_update" and isinstance(update.get("configOptions"), list):
            self._config_options = [o for o in update["configOptions"] if isinstance(o, dict)]
        if self._replaying:
            return
        self._emit(SessionEventKind.UPDATE, update)

    async def _on_request(self, method: str, params: Any) -> Any:
        if not isinstance(params, dict):
            raise RpcError(INVALID_PARAMS, f"{method} needs an object of params")
        if method == "session/request_permission":
            return await self._permissions.request(params, turn_running=self._turn is not None)
        if method in AgentFiles.METHODS:
            return await self._files.handle(method, params)
        if method.startswith("terminal/"):
            return await self._commands.handle(method, params)
        self._notice(
            "unknown_method",
            message=f"the agent called {method[:200]}, which Corral does not offer; it was told so",
        )
        raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")

    def _emit_command(self, payload: dict[str, Any]) -> None:
        self._emit(SessionEventKind.TERMINAL, payload)

    def _notice(self, code: str, **details: Any) -> None:
        self._emit(SessionEventKind.NOTICE, {"code": code, **details})
