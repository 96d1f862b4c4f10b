"""Schemas for agent sessions, their events and permission requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from corral.control.schemas.common import PublicModel, StrictInput
from corral.control.schemas.fields import Ref
from corral.protocol.sessions import MAX_PROMPT_CHARS, Policy
from corral.states import SessionState

__all__ = [
    "ContextUsage",
    "Cost",
    "EventPage",
    "ModeChange",
    "ModelChange",
    "PermissionAnswerBody",
    "PermissionRequestPublic",
    "PromptAccepted",
    "PromptCreate",
    "SessionCreate",
    "SessionEventPublic",
    "SessionPublic",
    "TurnUsage",
]


class SessionCreate(StrictInput):
    workspace: Ref = Field(description="Workspace name or id.")
    agent: Ref = Field(description="The agent's name.")
    policy: Policy | None = Field(
        None, description="Which permission requests are answered without asking."
    )
    title: str | None = Field(None, max_length=200)


class Cost(BaseModel):
    amount: float
    currency: str = Field(description="As the agent gave it, e.g. `USD`.")


class ContextUsage(BaseModel):
    """From the agent's last `usage_update`."""

    used: int | None = Field(description="Tokens in the context window now.")
    size: int | None = Field(description="The context window's size in tokens.")
    cost: Cost | None = Field(description="What the session has cost so far.")


class TurnUsage(BaseModel):
    """The token counts of a turn, as the agent reported them at its end."""

    total_tokens: int | None
    input_tokens: int | None
    output_tokens: int | None
    thought_tokens: int | None
    cached_read_tokens: int | None
    cached_write_tokens: int | None


class SessionPublic(PublicModel):
    id: str
    workspace_id: str | None
    project_id: str | None
    agent: str
    title: str | None
    policy: Policy
    state: SessionState
    state_reason: str | None
    state_changed_at: datetime
    acp_session_id: str | None
    model: str | None
    mode: str | None
    last_seq: int
    last_message: str | None
    context_usage: ContextUsage | None = Field(
        description="The context window and cost, from the agent's last `usage_update`."
    )
    turn_usage: TurnUsage | None = Field(
        description="The token counts of the last turn that reported them."
    )
    agent_info: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class PromptCreate(StrictInput):
    text: str = Field(min_length=1, max_length=MAX_PROMPT_CHARS)
    resources: list[str] = Field(
        default_factory=list,
        max_length=100,
        description="Workspace files (relative to the checkout) attached as resource links.",
    )


class PromptAccepted(BaseModel):
    prompt_id: str
    queued: int = Field(description="Prompts waiting before this one; 0 when it runs now.")


class ModeChange(StrictInput):
    mode: str = Field(min_length=1, max_length=200)


class ModelChange(StrictInput):
    model: str = Field(min_length=1, max_length=200)


class SessionEventPublic(BaseModel):
    seq: int
    kind: str
    payload: dict[str, Any]
    at: datetime


class EventPage(BaseModel):
    items: list[SessionEventPublic]
    last_seq: int = Field(description="The session's newest event number.")


class PermissionRequestPublic(PublicModel):
    id: str
    session_id: str
    state: str
    tool_call: dict[str, Any]
    options: list[dict[str, Any]]
    option_id: str | None
    decided_by: str | None
    policy: str | None
    created_at: datetime
    decided_at: datetime | None


class PermissionAnswerBody(StrictInput):
    option_id: str | None = Field(
        None, max_length=200, description="One of the request's options; omit to cancel."
    )
