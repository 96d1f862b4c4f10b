"""Schemas for nodes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, WithJsonSchema

from corral.control.schemas.common import PublicModel, StrictInput
from corral.control.schemas.fields import NewName
from corral.protocol.messages import NodeIsolation, NodeNetwork
from corral.states import NodeState

__all__ = ["NodeCreate", "NodeCreated", "NodeJoin", "NodeJoined", "NodePublic"]


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
