"""Node-link bodies for agent sessions (registered in `corral.protocol.messages.METHODS`).

Requests from the control plane to a node:

    session.start       SessionStart       -> SessionAck   (answers at once; the agent's
                                                            install and start follow as events)
    session.prompt      SessionPrompt      -> SessionAck   (queued behind a running turn)
    session.cancel      SessionRef         -> SessionAck
    session.stop        SessionRef         -> SessionAck
    session.set_mode    SessionSetMode     -> SessionAck
    session.set_model   SessionSetModel    -> SessionAck
    session.permission  PermissionAnswer   -> SessionAck
    session.list        Empty              -> SessionList

And one request from a node to the control plane:

    session.events      SessionEvents      -> SessionEventsAck

Everything a session does reaches the control plane as numbered `SessionEvent`s: the node
writes each to its outbox before sending and deletes it once acknowledged, so a dropped link
or a restarted control plane loses nothing and repeats nothing (the control plane ignores
sequence numbers it already has).
"""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import orjson
from pydantic import AwareDatetime, Field, StringConstraints

from corral.protocol.agents import AgentLaunch
from corral.protocol.base import MAX_ENV_VARS, Body, EnvName, EnvValue, Id

__all__ = [
    "MAX_EVENTS_PER_BATCH",
    "PermissionAnswer",
    "Policy",
    "SessionAck",
    "SessionEvent",
    "SessionEventKind",
    "SessionEvents",
    "SessionEventsAck",
    "SessionList",
    "SessionPrompt",
    "SessionRef",
    "SessionSetMode",
    "SessionSetModel",
    "SessionStart",
    "SessionSummary",
    "option_of_kind",
    "payload_json",
    "policy_allows",
    "policy_answer",
]

MAX_EVENTS_PER_BATCH = 1000
MAX_PROMPT_CHARS = 200_000
ShortText = Annotated[str, StringConstraints(max_length=1000)]


def payload_json(payload: Any) -> bytes:
    """An event's payload as the node link and the transcript carry it: compact JSON in UTF-8,
    by orjson (session events are the busiest path).

    Agents write what not every JSON reader takes, and Python's reads it: orjson writes NaN and
    infinities as null; a lone surrogate (half of a UTF-16 pair), which no UTF-8 text can hold
    and the node link's reader refuses even escaped, becomes U+FFFD; an integer beyond 64 bits,
    which orjson refuses, is written by the json module."""
    try:
        return orjson.dumps(payload)
    except TypeError:
        pass
    cleaned = _without_lone_surrogates(payload)
    try:
        return orjson.dumps(cleaned)
    except TypeError:
        return json.dumps(cleaned, separators=(",", ":"), ensure_ascii=False).encode()


def _without_lone_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    if isinstance(value, dict):
        return {_without_lone_surrogates(k): _without_lone_surrogates(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_lone_surrogates(item) for item in value]
    return value


class Policy(StrEnum):
    """Which permission requests the node answers without asking anyone."""

    ASK = "ask"
    ALLOW_READS = "allow-reads"
    ALLOW_EDITS = "allow-edits"
    ALLOW_ALL = "allow-all"


READ_TOOL_KINDS = frozenset({"read", "search", "think", "fetch"})
EDIT_TOOL_KINDS = READ_TOOL_KINDS | {"edit", "delete", "move"}


def policy_allows(policy: Policy, tool_kind: str | None) -> bool:
    """Whether `policy` answers a permission request about a tool call of `tool_kind` with
    an allow option, without asking anyone."""
    return (
        policy == Policy.ALLOW_ALL
        or (policy == Policy.ALLOW_EDITS and tool_kind in EDIT_TOOL_KINDS)
        or (policy == Policy.ALLOW_READS and tool_kind in READ_TOOL_KINDS)
    )


def policy_answer(
    policy: Policy, tool_kind: str | None, options: list[dict[str, Any]]
) -> str | None:
    """The option a session's `policy` answers a permission request with by itself (the
    agent's own allow option), or None when the request waits for a person. The node answers
    by this rule, and a viewer uses it to tell which requests need no answer of its own."""
    if not policy_allows(policy, tool_kind):
        return None
    return option_of_kind(options, "allow_once", "allow_always")


def option_of_kind(options: list[dict[str, Any]], *kinds: str) -> str | None:
    """The id of the agent's first option of the first of `kinds` it offers (option ids
    differ between agents; their kinds do not)."""
    for kind in kinds:
        for option in options:
            if option.get("kind") == kind:
                return str(option.get("optionId"))
    return None


class SessionEventKind(StrEnum):
    UPDATE = "update"
    """A `session/update` from the agent; the payload is its `update` object exactly as sent,
    kinds Corral does not know included."""
    PROMPT = "prompt"
    """A prompt went to the agent: {prompt_id, text, resources}."""
    TURN_END = "turn_end"
    """A turn finished: {prompt_id, stop_reason, usage?} or {prompt_id, error}."""
    PERMISSION_REQUEST = "permission_request"
    """The agent asked: {request_id, tool_call, options}."""
    PERMISSION_DECISION = "permission_decision"
    """It was answered: {request_id, outcome: selected|cancelled, option_id?, by?, policy?}."""
    STATE = "state"
    """The session moved: {state, reason?, acp_session_id?, modes?, models?, stderr?}."""
    TERMINAL = "terminal"
    """A command the agent ran through Corral: {terminal_id, command, output, truncated,
    exit_status?}, sent when it exits or is released (tool calls refer to it by id)."""
    INSTALL = "install"
    """A line of the agent's install: {line}."""
    NOTICE = "notice"
    """Something the user should know: {message}."""


class SessionEvent(Body):
    seq: int = Field(ge=1)
    kind: SessionEventKind
    payload: dict[str, Any]
    at: AwareDatetime


class SessionStart(Body):
    session_id: Id
    workspace_id: Id
    agent: AgentLaunch
    env: dict[EnvName, EnvValue] = Field(default_factory=dict, max_length=MAX_ENV_VARS)
    """The project's variables, the agent settings' env and the credential: for the agent's
    environment only, never written to the node's disk."""
    policy: Policy = Policy.ASK
    model: str | None = Field(None, max_length=200)
    mode: str | None = Field(None, max_length=200)
    load_session_id: str | None = Field(None, max_length=500)
    """The agent's own id of an earlier session to continue with `session/load`."""
    context: str | None = Field(None, max_length=MAX_PROMPT_CHARS)
    """When the agent cannot load: the earlier transcript, summarised, for the first prompt."""
    next_seq: int = Field(1, ge=1)
    permission_timeout_seconds: float | None = Field(None, gt=0, le=7 * 24 * 3600)


class SessionRef(Body):
    session_id: Id


class SessionPrompt(Body):
    session_id: Id
    prompt_id: Id
    text: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    resources: list[Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=list, max_length=100
    )
    """Files of the workspace (relative to the checkout) sent as resource links."""


class SessionSetMode(Body):
    session_id: Id
    mode_id: str = Field(min_length=1, max_length=200)


class SessionSetModel(Body):
    session_id: Id
    model_id: str = Field(min_length=1, max_length=200)


class PermissionAnswer(Body):
    session_id: Id
    request_id: str = Field(max_length=200)
    option_id: str | None = Field(None, max_length=200)
    """One of the agent's options, or None to answer `cancelled`."""
    by: Id | None = None


class SessionAck(Body):
    session_id: Id
    queued: int = Field(0, ge=0)


class SessionSummary(Body):
    id: Id
    state: ShortText


class SessionList(Body):
    sessions: list[SessionSummary]


class SessionEvents(Body):
    session_id: Id
    events: list[SessionEvent] = Field(min_length=1, max_length=MAX_EVENTS_PER_BATCH)


class SessionEventsAck(Body):
    session_id: Id
    acked_seq: int = Field(ge=0)
    """Every event up to here is stored; the node may forget them."""
