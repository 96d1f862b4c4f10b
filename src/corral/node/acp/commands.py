"""An agent's commands: what ACP's `terminal/*` methods run, as real processes in
the workspace (inside its sandbox), with their output kept for the agent and the transcript.

Output is stdout and stderr together, bounded by the agent's `outputByteLimit` (the oldest
bytes go first, cut at a character boundary) and by `MAX_OUTPUT_BYTES` in any case.

The transcript follows a command as it runs: a `terminal` event with `running: true` when it
starts, then at most one a `PROGRESS_SECONDS` with the text printed since (`append`, at most
`PROGRESS_MAX_BYTES`; `skipped` when more came), and a last one when it exits or is released,
with the tail of its whole output and its exit status. A long build is then watched live at a
bounded cost in events.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import re
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.errors import CorralError
from corral.ids import new_id
from corral.node.acp.requests import CreateTerminalRequest
from corral.node.acp.rpc import INVALID_PARAMS, METHOD_NOT_FOUND, RpcError, validated
from corral.node.runtimes.base import Runtime, WorkspaceHandle

__all__ = ["MAX_OUTPUT_BYTES", "AgentCommands", "command_argv"]

MAX_OUTPUT_BYTES = 1024 * 1024
MAX_COMMANDS = 32
TRANSCRIPT_OUTPUT_BYTES = 64 * 1024
PROGRESS_SECONDS = 1.0
PROGRESS_MAX_BYTES = 16 * 1024
SHELL = "/bin/bash" if os.path.exists("/bin/bash") else "/bin/sh"
"""What runs a whole shell line an agent sends as its command (inside the sandbox, which shows
the system's /bin)."""
_SHELL_SYNTAX = re.compile(r"""[\s|&;<>()$`\\"'*?\[\]#~=%{}]""")


@dataclass
class _Command:
    id: str
    command: list[str]
    process: asyncio.subprocess.Process
    limit: int
    output: bytearray = field(default_factory=bytearray)
    truncated: bool = False
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    reported: bool = False
    total: int = 0
    """Bytes received since the start (`output` keeps only the latest `limit`)."""
    progress: asyncio.Task[None] | None = None

    def add(self, chunk: bytes) -> None:
        self.total += len(chunk)
        self.output += chunk
        if len(self.output) > self.limit:
            cut = len(self.output) - self.limit
            # Never start inside a UTF-8 sequence: skip continuation bytes.
            while cut < len(self.output) and (self.output[cut] & 0xC0) == 0x80:
                cut += 1
            del self.output[:cut]
            self.truncated = True

    def text(self) -> str:
        return self.output.decode(errors="replace")

    def exit_status(self) -> dict[str, Any] | None:
        code = self.process.returncode
        if code is None:
            return None
        if code < 0:
            return {"exitCode": None, "signal": signal.Signals(-code).name}
        return {"exitCode": code, "signal": None}


class AgentCommands:
    """The commands one agent session runs, by the terminal id ACP gives them."""

    def __init__(
        self,
        runtime: Runtime,
        handle: WorkspaceHandle,
        *,
        emit: Callable[[dict[str, Any]], None],
    ) -> None:
        self.runtime = runtime
        self.workspace = handle
        self._emit = emit
        self._commands: dict[str, _Command] = {}

    async def handle(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        if method == "terminal/create":
            return await self._create(params)
        command = self._get(params)
        if method == "terminal/output":
            return {
                "output": command.text(),
                "truncated": command.truncated,
                "exitStatus": command.exit_status(),
            }
        if method == "terminal/wait_for_exit":
            await command.process.wait()
            await asyncio.gather(*command.readers, return_exceptions=True)
            self._report(command)
            return command.exit_status() or {}
        if method == "terminal/kill":
            await self.runtime.kill(command.process)
            return {}
        if method == "terminal/release":
            await self._release(command)
            return {}
        raise RpcError(METHOD_NOT_FOUND, f"method not found: {method}")

    async def _create(self, params: dict[str, Any]) -> dict[str, Any]:
        request = validated(CreateTerminalRequest, params, "terminal/create")
        if len(self._commands) >= MAX_COMMANDS:
            raise RpcError(INVALID_PARAMS, f"at most {MAX_COMMANDS} terminals per session")
        env = {v.name: v.value for v in request.env or []}
        argv = command_argv(request.command, request.args or [])
        cwd = Path(request.cwd) if request.cwd else None
        try:
            process = await self.runtime.spawn_process(self.workspace, argv, env=env, cwd=cwd)
        except CorralError as exc:
            raise RpcError(INVALID_PARAMS, exc.message) from None
        except OSError as exc:
            raise RpcError(
                INVALID_PARAMS, f"cannot run {request.command}: {exc.strerror}"
            ) from None
        limit = min(request.output_byte_limit or MAX_OUTPUT_BYTES, MAX_OUTPUT_BYTES)
        command = _Command(new_id("trm"), argv, process, limit)
        if process.stdin is not None:
            process.stdin.close()
        for stream in (process.stdout, process.stderr):
            assert stream is not None
            command.readers.append(asyncio.create_task(_collect(stream, command)))
        self._commands[command.id] = command
        self._emit({"terminal_id": command.id, "command": argv, "running": True, "append": ""})
        command.progress = asyncio.create_task(self._follow(command))
        return {"terminalId": command.id}

    async def _follow(self, command: _Command) -> None:
        """Emit what the command prints while it runs, one event a `PROGRESS_SECONDS` at most."""
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        sent = 0
        while not command.reported:
            await asyncio.sleep(PROGRESS_SECONDS)
            new = command.total - sent
            if new <= 0 or command.reported:
                continue
            take = min(new, PROGRESS_MAX_BYTES, len(command.output))
            skipped = take < new
            if skipped:
                decoder.reset()  # the text before the bytes taken is not sent
            sent = command.total
            self._emit(
                {
                    "terminal_id": command.id,
                    "running": True,
                    "append": decoder.decode(bytes(command.output[-take:])),
                    "skipped": skipped,
                }
            )

    def _get(self, params: dict[str, Any]) -> _Command:
        command = self._commands.get(str(params.get("terminalId")))
        if command is None:
            raise RpcError(INVALID_PARAMS, f"no terminal {params.get('terminalId')!r}")
        return command

    def _report(self, command: _Command) -> None:
        if command.reported:
            return
        command.reported = True
        if command.progress is not None:
            command.progress.cancel()
        text = command.text()
        self._emit(
            {
                "terminal_id": command.id,
                "command": command.command,
                "output": text[-TRANSCRIPT_OUTPUT_BYTES:],
                "truncated": command.truncated or len(text) > TRANSCRIPT_OUTPUT_BYTES,
                "exit_status": command.exit_status(),
                "running": False,
            }
        )

    async def _release(self, command: _Command) -> None:
        await self.runtime.kill(command.process)
        await asyncio.gather(*command.readers, return_exceptions=True)
        self._report(command)
        self._commands.pop(command.id, None)

    async def close(self) -> None:
        for command in list(self._commands.values()):
            with contextlib.suppress(Exception):
                await self._release(command)


def command_argv(command: str, args: Sequence[str]) -> list[str]:
    """The argv for an agent's command. ACP means `command` to be a program and `args` its
    arguments, but some agents send a whole shell line as `command` with no `args` (as they
    would type it), and editors run such a line through a shell; so does Corral, for a command
    without arguments that cannot be a program's name (it has spaces or shell syntax)."""
    if args or not _SHELL_SYNTAX.search(command):
        return [command, *args]
    return [SHELL, "-c", command]


async def _collect(stream: asyncio.StreamReader, command: _Command) -> None:
    while chunk := await stream.read(64 * 1024):
        command.add(chunk)
