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

__all__ = [
    "BootstrapLogLine",
    "BootstrapStep",
    "MachineTypePublic",
    "NodeCreate",
    "NodeCreated",
    "NodeJoin",
    "NodeJoined",
    "NodePublic",
    "NodeRuntime",
    "NodeTemplate",
    "ProviderOffer",
    "ProviderPublic",
    "RegionPublic",
    "SpendPublic",
    "SshTarget",
]


class SshTarget(StrictInput):
    host: str = Field(min_length=1, max_length=253, description="The server's name or address.")
    port: int = Field(22, ge=1, le=65535)
    user: str = Field("root", min_length=1, max_length=32)


class NodeCreate(StrictInput):
    name: NewName
    provider: str = Field(
        "manual",
        max_length=32,
        description="Who makes the machine: `manual` (you run `corral node run` with the join "
        "token), `hetzner`, `ssh`, or another enabled provider.",
    )
    machine_type: str | None = Field(
        None, max_length=64, description="The provider's size (`cx23`); cloud providers only."
    )
    region: str | None = Field(
        None, max_length=64, description="The provider's region (`fsn1`); cloud providers only."
    )
    credential: str | None = Field(
        None,
        max_length=100,
        description="Your credential the provider works with (id or name): a `hetzner` token, "
        "an `ssh-key`. Unset: your only one of that kind.",
    )
    allow_ssh: bool = Field(
        False, description="Open the SSH port in a cloud machine's firewall (nothing else is)."
    )
    ssh: SshTarget | None = Field(None, description="The server, for the `ssh` provider.")


class NodeTemplate(StrictInput):
    """The node to make when your workspaces find no room (`corral node default`)."""

    provider: str = Field(max_length=32, description="`hetzner`, `ssh` or another provider.")
    machine_type: str | None = Field(None, max_length=64)
    region: str | None = Field(None, max_length=64)
    credential: str | None = Field(None, max_length=100)
    allow_ssh: bool = False
    ssh: SshTarget | None = None


class BootstrapStep(StrictInput):
    step: str = Field(min_length=1, max_length=1000, description="What the bootstrap does now.")


class BootstrapLogLine(PublicModel):
    at: datetime
    step: str


class ProviderPublic(PublicModel):
    name: str
    kind: str = Field(
        description="`cloud` (makes machines that cost money), `machine` (installs onto a "
        "server you have) or `local`."
    )
    credential_kind: str | None = Field(description="The credential kind it needs, if any.")


class MachineTypePublic(PublicModel):
    name: str
    description: str
    cpus: float
    memory_bytes: int
    disk_bytes: int
    architecture: str
    hourly_price: float
    currency: str
    regions: list[str]
    prices: dict[str, float] = Field(description="Price per hour by region, where it differs.")


class RegionPublic(PublicModel):
    name: str
    description: str
    country: str


class ProviderOffer(PublicModel):
    machine_types: list[MachineTypePublic]
    regions: list[RegionPublic]


class SpendPublic(PublicModel):
    user_id: str
    user_name: str
    currency: str
    this_month: float = Field(description="What the user's cloud nodes cost this month so far.")
    per_hour_now: float = Field(description="What their machines that exist now cost per hour.")


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
    user_id: str | None = Field(
        None,
        description="Who added it (and pays for it, for a cloud node): shown to them and to "
        "the owner only.",
    )
    machine_type: str | None = None
    region: str | None = None
    options: dict[str, Any] = Field(
        default_factory=dict, description="What the provider was told (ssh: host, port, user)."
    )
    machine: str = Field(
        "none", description="`none`, `made` or `gone`: the machine at its provider."
    )
    hourly_price: float | None = None
    currency: str | None = None
    cost_this_month: float | None = None
    last_error: str | None = None
    bootstrap_log: list[BootstrapLogLine] = Field(
        default_factory=list,
        description="The latest steps of making the machine and bootstrapping the node.",
    )
    host_key_fingerprint: str | None = Field(
        None, description="The SSH host key recorded on first contact (ssh nodes)."
    )


class NodeCreated(PublicModel):
    node: NodePublic
    join_token: str | None = Field(
        description="Single use, shown once; give it to `corral node run` (`manual` nodes "
        "only: a provider hands its machine a token itself)."
    )
    join_command: str | None = Field(description="The command to run on the new machine.")
    expires_at: datetime | None


class NodeJoin(StrictInput):
    join_token: str = Field(min_length=1, max_length=200)


class NodeJoined(PublicModel):
    node_id: str
    credential: str = Field(description="The node's secret for its link; shown once.")
