"""Schemas for nodes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from corral.control.schemas.common import PublicModel, StrictInput
from corral.control.schemas.fields import NewName
from corral.control.schemas.workspaces import WorkspaceLimitsPublic
from corral.protocol.messages import NodeIsolation, NodeNetwork
from corral.states import NodeState

__all__ = ["NodeCreate", "NodeCreated", "NodeJoin", "NodeJoined", "NodePublic", "NodeRuntime"]


class NodeCreate(StrictInput):
    name: NewName


def _heartbeat_object(description: str, **properties: dict[str, Any]) -> WithJsonSchema:
    """The schema of a dict answered as stored from a node's heartbeat (`services.nodes`): the
    keys it holds, each missing before the first heartbeat, and others allowed."""
    return WithJsonSchema(
        {
            "type": "object",
            "description": description,
            "properties": properties,
            "additionalProperties": True,
        }
    )


def _count() -> dict[str, Any]:
    return {"type": "integer", "minimum": 0}


NodeCapacity = Annotated[
    dict[str, Any],
    _heartbeat_object(
        "What the node has, from its last heartbeat.",
        cpus=_count(),
        memory_bytes=_count(),
        disk_bytes=_count(),
        isolation=NodeIsolation.model_json_schema(mode="serialization"),
        network=NodeNetwork.model_json_schema(mode="serialization"),
        allocatable_cpus={
            "type": "number",
            "minimum": 0,
            "description": "CPUs it offers workspaces; placement fits their requests in these.",
        },
        allocatable_memory_bytes=_count(),
    ),
]
NodeUsage = Annotated[
    dict[str, Any],
    _heartbeat_object(
        "What the node uses, from its last heartbeat.",
        memory_bytes=_count(),
        disk_bytes=_count(),
        load1={"type": "number", "minimum": 0},
        workspaces=_count(),
        terminals=_count(),
        sessions=_count(),
        agents={"type": "array", "items": {"type": "string"}, "description": "package@version"},
    ),
]


class NodeRuntime(PublicModel):
    """One of a node's runtimes, from its last heartbeat."""

    name: str
    available: bool = Field(description="False when it cannot work there (no Docker, say).")
    problem: str | None = Field(description="Why it is not available, in the node's words.")
    isolation: NodeIsolation
    limits: bool = Field(description="Whether it enforces workspaces' CPU, memory and pids limits.")
    default_limits: WorkspaceLimitsPublic = Field(
        description="What a workspace that sets no limits of its own gets."
    )


class NodePublic(PublicModel):
    id: str
    name: str
    provider: str
    state: NodeState
    state_reason: str | None
    state_changed_at: datetime
    version: str | None = Field(description="The version of Corral the node runs.")
    last_seen_at: datetime | None
    capacity: NodeCapacity
    usage: NodeUsage
    runtimes: list[NodeRuntime] = Field(
        default_factory=list,
        description="The runtimes it offers, its default first (`host` for a node too old to "
        "report them; none before its first heartbeat).",
    )
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
