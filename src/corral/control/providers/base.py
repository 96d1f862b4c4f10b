"""The provider interface: what the control plane asks of anything that makes and removes nodes.

Shaped like the node's runtimes (and JupyterHub's spawners): one small abstract class, one module
per implementation, chosen by name through the `corral.providers` entry points. A provider knows
nothing of the database or of HTTP. The reconcilers (`control/reconcile/`) decide *when* to make or
delete a machine; a provider only knows *how*, and must be safe to call again after any failure:

- `create_machine` is idempotent per node: it first looks for a machine it already made for
  `request.node_id` (by the labels it put on it) and returns that one instead of making a second.
  A retry after a timeout, or a control plane killed between "server created" and "node
  recorded", therefore never leaves two machines.
- `delete_machine` succeeds when the machine is already gone.
- `list_machines` returns every machine carrying this Corral instance's label, so the orphan
  sweeper can find what the database forgot.

docs/providers.md says how other clouds (DigitalOcean, Vultr, Scaleway, AWS, GCP) map onto it
without a change to this class.
"""

from __future__ import annotations

import abc
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from corral import errors
from corral.settings import ProvidersSettings

__all__ = [
    "LABEL_INSTANCE",
    "LABEL_NODE",
    "LABEL_OWNER",
    "Machine",
    "MachineRequest",
    "MachineType",
    "NodeBootstrap",
    "Progress",
    "Provider",
    "ProviderError",
    "Region",
    "no_progress",
]

LABEL_INSTANCE = "corral-instance"
"""Names the Corral installation (its instance id) that made a machine."""
LABEL_NODE = "corral-node"
"""The id of the node a machine was made for: how `create_machine` finds its own earlier work."""
LABEL_OWNER = "corral-owner"
"""The id of the user who asked for (and pays for) the machine."""

Progress = Callable[[str], Awaitable[None]]
"""Reports one step of a long piece of work ("creating the server", "installing Docker")."""


async def no_progress(_: str) -> None:
    return None


ProviderError = errors.ProviderError
"""What a provider raises: `ProviderError(message, retryable=...)`. The reconciler retries a
retryable one with backoff and puts the node in `error` for one that is not."""


@dataclass(frozen=True)
class Region:
    name: str
    """The provider's own name for it (`fsn1`), which users type."""
    description: str
    country: str = ""


@dataclass(frozen=True)
class MachineType:
    name: str
    """The provider's own name for it (`cx23`), which users type."""
    cpus: float
    memory_bytes: int
    disk_bytes: int
    hourly_price: float
    """Gross price per hour in `currency`; it can differ by region, see `prices`."""
    currency: str
    regions: tuple[str, ...] = ()
    """The regions it can be made in; empty when the provider does not say."""
    prices: Mapping[str, float] = field(default_factory=dict)
    """Price per hour by region, where it differs from `hourly_price`."""
    description: str = ""
    architecture: str = "x86"

    def price_in(self, region: str) -> float:
        return self.prices.get(region, self.hourly_price)


@dataclass(frozen=True)
class NodeBootstrap:
    """What a new machine needs to become a node: where to dial and the single-use token to
    join with (the only secret it is given; it expires with the provisioning deadline)."""

    control_url: str
    join_token: str
    node_version: str
    package_url: str
    """Where the machine downloads the node's Python package (served by the control plane)."""
    progress_url: str
    """Where each bootstrap step is reported, with the join token as the bearer token."""
    ca_certificate: str | None = None
    """PEM of a CA the node must trust for the control URL (a private CA), if any."""


@dataclass(frozen=True)
class MachineRequest:
    node_id: str
    node_name: str
    owner_id: str
    instance_id: str
    bootstrap: NodeBootstrap
    machine_type: str = ""
    region: str = ""
    options: Mapping[str, Any] = field(default_factory=dict)
    """What the user told this provider about the machine (for `ssh`: host, port, user)."""
    allow_ssh: bool = False
    """Open the SSH port in the machine's firewall; nothing else is ever opened (the node
    dials out to the control plane)."""
    ssh_public_keys: tuple[str, ...] = ()


@dataclass(frozen=True)
class Machine:
    """A machine as the provider sees it. `handle` is what the provider needs to find it again
    (stored on the node, read only by the provider)."""

    id: str
    name: str
    status: str
    created_at: datetime | None
    labels: Mapping[str, str]
    handle: dict[str, Any]
    public_ipv4: str | None = None

    @property
    def node_id(self) -> str | None:
        return self.labels.get(LABEL_NODE)

    @property
    def instance_id(self) -> str | None:
        return self.labels.get(LABEL_INSTANCE)


class Provider(abc.ABC):
    """Makes and removes the machines nodes run on. An instance is made per use, with one
    user's credential (a cloud token, an SSH key) and the provider's settings."""

    name: ClassVar[str]
    kind: ClassVar[Literal["local", "machine", "cloud"]]
    """`cloud` makes machines that cost money (and are swept for orphans and idled away);
    `machine` installs onto a machine the user already has (SSH); `local` is the node beside
    the control plane."""
    credential_kind: ClassVar[str | None] = None
    """The kind of credential it needs (`hetzner`, `ssh-key`), or None."""

    @classmethod
    @abc.abstractmethod
    def open(cls, settings: ProvidersSettings, secret: str | None) -> Provider:
        """A provider for one use, with the user's opened credential (never stored on it
        anywhere but in memory)."""

    async def machine_types(self) -> list[MachineType]:
        """The sizes machines come in, with prices; empty for providers that make none."""
        return []

    async def regions(self) -> list[Region]:
        return []

    @abc.abstractmethod
    async def create_machine(self, request: MachineRequest, progress: Progress) -> Machine:
        """Make (or find the one already made for `request.node_id`) and start bootstrapping
        it; return once the provider has it, not once the node has joined."""

    @abc.abstractmethod
    async def delete_machine(self, node_id: str, handle: Mapping[str, Any]) -> None:
        """Remove the machine made for `node_id` (and what was installed on it); a machine
        that is gone already is not an error. `handle` may be empty when a crash lost it."""

    async def list_machines(self, instance_id: str) -> list[Machine]:
        """Every machine labelled with `instance_id`; providers that cannot list return []."""
        return []

    async def close(self) -> None:
        """Release connections; the provider is not used again."""
        return None

    async def __aenter__(self) -> Provider:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()
