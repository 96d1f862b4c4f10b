"""What a scripted model server answers: the replies a test scripts, and the tool results it
reads back (see tests/support/model_server.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

__all__ = [
    "Action",
    "EditFile",
    "Reply",
    "ScriptItem",
    "Stall",
    "ToolCall",
    "ToolResult",
    "WriteFile",
]


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


@dataclass(frozen=True)
class ToolResult:
    """A tool result the agent sent back to the model, normalised across protocols."""

    call_id: str | None
    output: str
    is_error: bool = False
