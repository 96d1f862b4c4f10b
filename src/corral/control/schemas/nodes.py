"""Schemas for nodes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field

from corral.control.schemas.common import PublicModel, StrictInput
from corral.control.schemas.fields import NewName
from corral.states import NodeState

__all__ = ["NodeCreate", "NodeCreated", "NodeJoin", "NodeJoined", "NodePublic"]


class NodeCreate(StrictInput):
    name: NewName


class NodePublic(PublicModel):
    id: str
    name: str
    provider: str
    state: NodeState
    state_reason: str | None
    state_changed_at: datetime
    agent_version: str | None
    last_seen_at: datetime | None
    capacity: dict[str, Any]
    usage: dict[str, Any]
    connected: bool = False
    created_at: datetime


class NodeCreated(PublicModel):
    node: NodePublic
    join_token: str = Field(description="Single use, shown once; give it to `corral node run`.")
    join_command: str = Field(description="The command to run on the new machine.")
    expires_at: datetime


class NodeJoin(StrictInput):
    join_token: str = Field(min_length=1, max_length=200)


class NodeJoined(PublicModel):
    node_id: str
    credential: str = Field(description="The node's secret for its link; shown once.")
