"""The wire protocols a scripted model server speaks (see tests/support/model_server.py): how
each dialect's requests are recognised and read, and how a scripted reply is encoded for it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeAlias

from tests.support.model_script import Action, EditFile, ToolCall, ToolResult, WriteFile

__all__ = [
    "CHAT_STREAM_END",
    "SIDE_REPLY_TEXT",
    "Call",
    "Dialect",
    "complete",
    "dialect_of",
    "is_side_request",
    "model_of",
    "side_reply_text",
    "sse_frame",
    "stream_events",
    "tool_names",
    "tool_results",
    "translate",
]

Dialect: TypeAlias = Literal["anthropic", "openai", "gemini", "chat"]
"""Anthropic Messages, OpenAI Responses, Gemini, and OpenAI Chat Completions."""
Json: TypeAlias = Any

SIDE_REPLY_TEXT = "OK"
CHAT_STREAM_END = "[DONE]"
"""The data of the last frame of a Chat Completions stream, which is not JSON."""


def sse_frame(dialect: Dialect, data: Json) -> bytes:
    """One SSE frame. Anthropic and OpenAI Responses name each event after its `type`; Gemini
    and Chat Completions send bare `data:` lines, and Chat Completions ends with `[DONE]`."""
    head = f"event: {data['type']}\n" if dialect in ("anthropic", "openai") else ""
    payload = data if data == CHAT_STREAM_END else json.dumps(data)
    return f"{head}data: {payload}\n\n".encode()


def dialect_of(path: str) -> Dialect | None:
    if path.startswith("/v1/messages"):
        return "anthropic"
    if path == "/v1/responses":
        return "openai"
    if path.startswith("/v1beta/models/"):
        return "gemini"
    if path == "/v1/chat/completions":
        return "chat"
    return None


def model_of(dialect: Dialect, path: str, body: dict[str, Any]) -> str:
    if dialect == "gemini":
        return path.removeprefix("/v1beta/models/").split(":", 1)[0]
    return str(body.get("model") or "scripted-model")


def _chunks(text: str, size: int = 24) -> Iterator[str]:
    """Split text into a few deltas, so the agent sees a stream rather than one block."""
    for start in range(0, len(text), size):
        yield text[start : start + size]


def tool_names(dialect: Dialect | None, body: Json) -> list[str]:
    if not isinstance(body, dict):
        return []
    tools = body.get("tools") or []
    if dialect == "gemini":
        return [
            str(declaration.get("name"))
            for tool in tools
            for declaration in tool.get("functionDeclarations") or []
        ]
    if dialect == "chat":
        return [str((tool.get("function") or {}).get("name")) for tool in tools]
    return [str(tool.get("name", tool.get("type"))) for tool in tools]


def tool_results(dialect: Dialect | None, body: Json) -> list[ToolResult]:
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
    elif dialect == "chat":
        for message in body.get("messages") or []:
            if message.get("role") == "tool":
                results.append(
                    ToolResult(message.get("tool_call_id"), _text_of(message.get("content")))
                )
    return results


def _text_of(content: Json) -> str:
    """A message's text: a string, or the text parts of a list of content parts."""
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)


# Side requests that carry tools anyway, recognised by how their first (system) or last message
# starts: Claude Code's prompt suggestion after each turn (sent with the full tool list to share
# the main loop's prompt cache; `claude_launch` also turns it off), which Qwen Code has too, and
# Qwen's background subagents with file tools of their own (memory extraction after a turn, a
# memory "dream", skill review). Taken for the main loop, each would take the next reply.
_SIDE_REQUEST_MARKERS = (
    "[SUGGESTION MODE:",
    "You are now acting as the managed memory extraction subagent",
    "You are performing a managed memory dream",
    "You are reviewing this conversation to extract reusable skills",
)


def is_side_request(dialect: Dialect, body: dict[str, Any]) -> bool:
    """True for requests the agent makes besides its main loop; they get a canned answer."""
    if not tool_names(dialect, body):
        return True
    if dialect not in ("anthropic", "chat"):
        return False
    messages = body.get("messages") or []
    ends = [messages[0], messages[-1]] if messages else []
    return any(_text_of(m.get("content")).startswith(_SIDE_REQUEST_MARKERS) for m in ends)


def side_reply_text(dialect: Dialect, body: dict[str, Any]) -> str:
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
    elif dialect == "chat":
        response_format = body.get("response_format") or {}
        schema = (response_format.get("json_schema") or {}).get("schema")
        if schema is None and response_format.get("type") == "json_object":
            schema = {"type": "object"}
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
class Call:
    """A tool call ready to encode: its name and either JSON arguments or freeform input."""

    name: str
    arguments: dict[str, Any] | str
    kind: Literal["function", "custom"] = "function"


def translate(dialect: Dialect, action: Action, body: dict[str, Any]) -> list[Call]:
    """Turn a script action into the tool calls this agent understands, checking that the agent
    offered those tools (a renamed tool should fail the test loudly, not hang the agent)."""
    if isinstance(action, ToolCall):
        calls = [(action.name, action.arguments)]
    elif dialect == "anthropic":
        calls = _claude_calls(action)
    elif dialect == "gemini":
        calls = [_gemini_call(action)]
    elif dialect == "chat":
        calls = _qwen_calls(action)
    else:
        calls = [("apply_patch", _patch(action))]
    offered = tool_names(dialect, body)
    result: list[Call] = []
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


def _qwen_calls(action: EditFile | WriteFile) -> list[tuple[str, dict[str, Any] | str]]:
    """Qwen Code (0.24) refuses to edit a file it has not read in the session ("Use the
    read_file tool first"), so the reply reads it first, in the same response, as for Claude."""
    read: tuple[str, dict[str, Any] | str] = ("read_file", {"file_path": action.path})
    if isinstance(action, EditFile):
        edit = {"file_path": action.path, "old_string": action.old, "new_string": action.new}
        return [read, ("edit", edit)]
    write: tuple[str, dict[str, Any] | str] = (
        "write_file",
        {"file_path": action.path, "content": action.content},
    )
    return [read, write] if Path(action.path).exists() else [write]


def _shape(
    dialect: Dialect, body: dict[str, Any], name: str, arguments: dict[str, Any] | str
) -> Call:
    """Codex offers some tools as freeform (`custom`) and others as JSON functions; send each
    the way the request declared it. The other protocols only have JSON arguments."""
    if dialect != "openai":
        if isinstance(arguments, str):
            raise ValueError(f"{dialect} tool calls take JSON arguments, not {arguments!r}")
        return Call(name, arguments)
    spec = next(tool for tool in body.get("tools") or [] if tool.get("name") == name)
    if spec.get("type") == "custom":
        freeform = arguments if isinstance(arguments, str) else json.dumps(arguments)
        return Call(name, freeform, "custom")
    return Call(name, {"input": arguments} if isinstance(arguments, str) else arguments)


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


def stream_events(
    dialect: Dialect,
    next_id: Callable[[str], str],
    model: str,
    text: str,
    calls: Sequence[Call],
    *,
    final: bool,
) -> Iterator[Json]:
    """The SSE events of one response; with `final=False`, only its opening text (a stall)."""
    if dialect == "anthropic":
        return _anthropic_events(next_id, model, text, calls, final=final)
    if dialect == "openai":
        return _openai_events(next_id, model, text, calls, final=final)
    if dialect == "chat":
        return _chat_events(next_id, model, text, calls, final=final)
    return _gemini_events(next_id, model, text, calls, final=final)


def _anthropic_events(
    next_id: Callable[[str], str], model: str, text: str, calls: Sequence[Call], *, final: bool
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
    next_id: Callable[[str], str], model: str, text: str, calls: Sequence[Call], *, final: bool
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


_CHAT_USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


def _chat_events(
    next_id: Callable[[str], str], model: str, text: str, calls: Sequence[Call], *, final: bool
) -> Iterator[Json]:
    """`chat.completion.chunk` frames: the role, text deltas, then each tool call as OpenAI
    streams one (its id and name first, its JSON arguments after, by `index`), the finish
    reason, the usage (asked for with `stream_options.include_usage`), and `[DONE]`."""
    base = {
        "id": next_id("chatcmpl"),
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": model,
    }

    def chunk(delta: Json, finish: str | None = None) -> Json:
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield chunk({"role": "assistant", "content": ""})
    for piece in _chunks(text):
        yield chunk({"content": piece})
    if not final:
        return
    for index, call in enumerate(calls):
        opening = {"id": next_id("call"), "type": "function"}
        function = {"name": call.name, "arguments": ""}
        yield chunk({"tool_calls": [{"index": index, **opening, "function": function}]})
        arguments = {"arguments": json.dumps(call.arguments)}
        yield chunk({"tool_calls": [{"index": index, "function": arguments}]})
    yield chunk({}, "tool_calls" if calls else "stop")
    yield {**base, "choices": [], "usage": _CHAT_USAGE}
    yield CHAT_STREAM_END


def _gemini_events(
    next_id: Callable[[str], str], model: str, text: str, calls: Sequence[Call], *, final: bool
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


def complete(
    dialect: Dialect,
    next_id: Callable[[str], str],
    model: str,
    text: str,
    calls: Sequence[Call],
) -> Json:
    """A whole, non-streamed response, assembled from the events a stream would carry."""
    events = list(stream_events(dialect, next_id, model, text, calls, final=True))
    if dialect == "openai":
        return events[-1]["response"]
    if dialect == "chat":
        return _chat_complete(events, text)
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


def _chat_complete(events: list[Json], text: str) -> Json:
    """A `chat.completion`: the chunks' tool calls put together, by index."""
    calls: dict[int, Json] = {}
    finish = None
    for event in events:
        if not isinstance(event, dict) or not event["choices"]:
            continue
        choice = event["choices"][0]
        finish = choice["finish_reason"] or finish
        for part in choice["delta"].get("tool_calls") or []:
            call = calls.setdefault(part["index"], {"type": "function", "function": {}})
            call.update({key: value for key, value in part.items() if key in ("id", "type")})
            function = call["function"]
            for key, value in part["function"].items():
                function[key] = function.get(key, "") + value
    message: Json = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = [calls[index] for index in sorted(calls)]
    head = {key: events[0][key] for key in ("id", "created", "model")}
    return {
        **head,
        "object": "chat.completion",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": _CHAT_USAGE,
    }
