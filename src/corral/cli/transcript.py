"""Renders a session's events in a terminal: messages, thoughts, tool calls with coloured
diffs, plans, terminal output, permission requests and turn ends.

Chunks of one message arrive as many events; they are printed as they come, on one line of
text, and a new block starts when the kind of content changes. Tool call updates carry only
what changed, so the renderer keeps each tool call's title and kind to print them again.
"""

from __future__ import annotations

import difflib
import shlex
from typing import Any

from rich.console import Console
from rich.text import Text

from corral.control.services.sessions.usage import context_usage, turn_usage

__all__ = ["TranscriptPrinter"]

MAX_DIFF_LINES = 200
MAX_OUTPUT_CHARS = 4000
STATUS_MARKS = {"pending": "…", "in_progress": "▸", "completed": "✓", "failed": "✗"}
PLAN_MARKS = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


def _text(content: Any) -> str:
    if isinstance(content, dict):
        if content.get("type") == "text":
            return str(content.get("text", ""))
        if content.get("type") == "resource_link":
            return f"[{content.get('name') or content.get('uri')}]"
        return f"[{content.get('type', 'content')}]"
    return ""


class TranscriptPrinter:
    def __init__(self, console: Console) -> None:
        self.console = console
        self._stream: str | None = None  # the kind of chunk being printed on the current line
        self._tools: dict[str, dict[str, Any]] = {}
        # Characters of each running command's output shown so far (-1: some were skipped).
        self._shown_output: dict[str, int] = {}

    def _end_stream(self) -> None:
        if self._stream is not None:
            self.console.print()
            self._stream = None

    def _chunk(self, kind: str, text: str, style: str, label: str) -> None:
        if self._stream != kind:
            self._end_stream()
            self.console.print(Text(label, style="bold " + style))
            self._stream = kind
        self.console.print(Text(text, style=style), end="")

    def event(self, event: dict[str, Any]) -> None:
        kind, payload = event["kind"], event["payload"]
        handler = getattr(self, f"_on_{kind}", None)
        if handler is not None:
            handler(payload)

    def _line(self, text: Text | str) -> None:
        self._end_stream()
        self.console.print(text)

    # -- event kinds -----------------------------------------------------------------------------

    def _on_prompt(self, payload: dict[str, Any]) -> None:
        self._line(Text.assemble(("you: ", "bold cyan"), str(payload.get("text", ""))))

    def _on_update(self, update: dict[str, Any]) -> None:
        kind = update.get("sessionUpdate")
        if kind == "agent_message_chunk":
            self._chunk(kind, _text(update.get("content")), "", "agent:")
        elif kind == "agent_thought_chunk":
            self._chunk(kind, _text(update.get("content")), "dim italic", "thinking:")
        elif kind == "user_message_chunk":
            self._chunk(kind, _text(update.get("content")), "cyan", "you:")
        elif kind in ("tool_call", "tool_call_update"):
            self._tool(update)
        elif kind == "plan":
            self._plan(update.get("entries") or [])
        elif kind == "current_mode_update":
            self._line(Text(f"mode: {update.get('currentModeId')}", style="magenta"))
        elif kind == "usage_update":
            text = context_text(context_usage(update))
            if text:
                self._line(Text(f"usage: {text}", style="dim"))
        elif kind in ("available_commands_update", "config_option_update", "session_info_update"):
            return  # state for pickers, not for the transcript
        else:
            self._line(Text(f"({kind} update)", style="dim"))

    def _tool(self, update: dict[str, Any]) -> None:
        tool_id = str(update.get("toolCallId"))
        known = self._tools.setdefault(tool_id, {})
        for key in ("title", "kind", "status"):
            if update.get(key) is not None:
                known[key] = update[key]
        status = str(known.get("status", "pending"))
        mark = STATUS_MARKS.get(status, "?")
        style = {"failed": "red", "completed": "green"}.get(status, "yellow")
        self._line(
            Text.assemble(
                (f"{mark} ", style),
                (str(known.get("title", "tool call")), "bold"),
                (f"  [{known.get('kind', 'other')}, {status}]", "dim"),
            )
        )
        for location in update.get("locations") or []:
            if isinstance(location, dict) and location.get("path"):
                self.console.print(Text(f"    {location['path']}", style="dim"))
        for item in update.get("content") or []:
            if not isinstance(item, dict):
                continue
            if item.get("type") == "diff":
                self._diff(item)
            elif item.get("type") == "content":
                text = _text(item.get("content"))
                if text:
                    self.console.print(Text(_indent(text[:MAX_OUTPUT_CHARS]), style="dim"))

    def _diff(self, diff: dict[str, Any]) -> None:
        old = str(diff.get("oldText") or "").splitlines()
        new = str(diff.get("newText") or "").splitlines()
        path = str(diff.get("path", ""))
        lines = list(difflib.unified_diff(old, new, f"a{path}", f"b{path}", lineterm=""))
        for line in lines[:MAX_DIFF_LINES]:
            style = (
                "bold"
                if line.startswith(("---", "+++"))
                else "cyan"
                if line.startswith("@@")
                else "green"
                if line.startswith("+")
                else "red"
                if line.startswith("-")
                else ""
            )
            self.console.print(Text("    " + line, style=style))
        if len(lines) > MAX_DIFF_LINES:
            self.console.print(Text(f"    … {len(lines) - MAX_DIFF_LINES} more lines", style="dim"))

    def _plan(self, entries: list[Any]) -> None:
        self._line(Text("plan:", style="bold blue"))
        for entry in entries:
            if isinstance(entry, dict):
                mark = PLAN_MARKS.get(str(entry.get("status")), "[?]")
                self.console.print(Text(f"  {mark} {entry.get('content', '')}"))

    def _on_terminal(self, payload: dict[str, Any]) -> None:
        """A command as it runs (`running`: its start, then what it printed since) and when it
        ended, with whatever of its output was not shown yet."""
        terminal_id = str(payload.get("terminal_id"))
        command = shlex.join(str(part) for part in payload.get("command") or [])
        if payload.get("running"):
            if terminal_id not in self._shown_output:
                self._shown_output[terminal_id] = 0
                self._line(Text.assemble(("$ ", "bold"), command, ("  (running)", "dim")))
            append = str(payload.get("append") or "")
            if payload.get("skipped"):
                self._shown_output[terminal_id] = -1  # what was shown is no prefix of the rest
                self.console.print(Text("  …", style="dim"))
            elif self._shown_output[terminal_id] >= 0:
                self._shown_output[terminal_id] += len(append)
            if append:
                self.console.print(Text(_indent(append[-MAX_OUTPUT_CHARS:]), style="dim"))
            return
        status = payload.get("exit_status") or {}
        code = status.get("exitCode") if isinstance(status, dict) else None
        output = str(payload.get("output", ""))
        shown = self._shown_output.pop(terminal_id, 0)
        if 0 < shown <= len(output) and not payload.get("truncated"):
            output = output[shown:]  # the rest, after what was shown as it came
        # Otherwise the whole (tail of the) output: some lines may show twice, none goes missing.
        self._line(Text.assemble(("$ ", "bold"), command, (f"  (exit {code})", "dim")))
        if output:
            self.console.print(Text(_indent(output[-MAX_OUTPUT_CHARS:]), style="dim"))

    def _on_permission_request(self, payload: dict[str, Any]) -> None:
        tool = payload.get("tool_call") or {}
        title = tool.get("title") or self._tools.get(str(tool.get("toolCallId")), {}).get("title")
        self._line(Text.assemble(("permission? ", "bold yellow"), str(title or "the agent asks")))

    def _on_permission_decision(self, payload: dict[str, Any]) -> None:
        who = payload.get("policy") or ("you" if payload.get("by") else "someone")
        answer = payload.get("option_id") or payload.get("outcome")
        self._line(Text(f"  answered {answer} ({who})", style="yellow"))

    def _on_turn_end(self, payload: dict[str, Any]) -> None:
        if payload.get("error"):
            self._line(Text(f"turn failed: {payload['error']}", style="bold red"))
        else:
            text = turn_text(turn_usage(payload.get("usage")))
            usage = f", {text}" if text else ""
            self._line(Text(f"[{payload.get('stop_reason')}{usage}]", style="dim"))

    def _on_state(self, payload: dict[str, Any]) -> None:
        state = payload.get("state")
        if state in ("error", "stopped"):
            reason = f": {payload['reason']}" if payload.get("reason") else ""
            style = "bold red" if state == "error" else "dim"
            self._line(Text(f"session {state}{reason}", style=style))
            for line in payload.get("stderr") or []:
                self.console.print(Text(f"  {line}", style="dim red"))

    def _on_install(self, payload: dict[str, Any]) -> None:
        self._line(Text(f"install: {payload.get('line', '')}", style="dim"))

    def _on_notice(self, payload: dict[str, Any]) -> None:
        if payload.get("code") in ("agent_ready", "prompt_queued"):
            return
        self._line(Text(f"note: {payload.get('message', payload.get('code'))}", style="magenta"))


def _indent(text: str) -> str:
    return "\n".join("    " + line for line in text.rstrip("\n").splitlines())


def context_text(context: dict[str, Any] | None) -> str:
    """A session's `context_usage` in words: the context window's use, and the cost."""
    if not context:
        return ""
    parts = []
    used, size = context.get("used"), context.get("size")
    if used is not None and size:
        parts.append(f"context {used:,} of {size:,} tokens ({min(100, round(used * 100 / size))}%)")
    elif used is not None:
        parts.append(f"context {used:,} tokens")
    cost = context.get("cost")
    if cost:
        amount = cost["amount"]
        parts.append(
            f"cost {amount:.4f} {cost['currency']}"
            if amount < 1
            else f"cost {amount:.2f} {cost['currency']}"
        )
    return ", ".join(parts)


TURN_PARTS = (
    ("input_tokens", "in"),
    ("output_tokens", "out"),
    ("thought_tokens", "thinking"),
    ("cached_read_tokens", "cached"),
)


def turn_text(turn: dict[str, Any] | None) -> str:
    """A session's `turn_usage` in words: the turn's tokens in, out, thinking and cached."""
    if not turn:
        return ""
    parts = [f"{turn[key]:,} {label}" for key, label in TURN_PARTS if turn.get(key)]
    if not parts and turn.get("total_tokens") is not None:
        parts.append(f"{turn['total_tokens']:,} tokens")
    return ", ".join(parts)
