"""What the app holds for its lifetime, made once by the app factory and passed to requests."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry
from sqlalchemy.ext.asyncio import AsyncEngine

from corral.control.db.engine import DbSessionFactory
from corral.control.live import Broker, ChangeFeed, SessionHub, ViewerSockets
from corral.control.nodelink.progress import ProvisioningLogs
from corral.control.nodelink.registry import NodeRegistry
from corral.control.presence import Presence
from corral.control.ratelimit import AttemptLimiter
from corral.control.replicas.directory import LinkDirectory
from corral.control.secretbox import SecretBox
from corral.control.services.provisioning import Provisioning
from corral.control.services.sessions.ingester import Ingester
from corral.control.terminaltickets import TerminalTickets
from corral.settings import Settings

__all__ = ["AppState"]


@dataclass
class AppState:
    settings: Settings
    engine: AsyncEngine
    db: DbSessionFactory
    """Opens a database session: `async with state.db() as db`."""
    secret_box: SecretBox
    login_limiter: AttemptLimiter
    metrics: CollectorRegistry
    broker: Broker
    """Under the live feeds: in this process, or through PostgreSQL between replicas."""
    change_feed: ChangeFeed
    session_hub: SessionHub
    ingester: Ingester
    """Stores the session events nodes send, several batches to a transaction."""
    viewer_sockets: ViewerSockets
    provisioning_logs: ProvisioningLogs
    provisioning: Provisioning
    """What the node reconciler works with (`services.provisioning`)."""
    replicas: LinkDirectory | None = None
    """With PostgreSQL: this replica's name and where the other replicas hold node links."""
    node_registry: NodeRegistry = field(default_factory=NodeRegistry)
    terminal_tickets: TerminalTickets = field(default_factory=TerminalTickets)
    placement_due: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to have the placement loop look at pending workspaces now rather than at its next
    period (`reconcilers.place_workspaces_forever`)."""
    presence: Presence = field(default_factory=Presence)
    """Who is at each workspace (viewers, typing), as this process sees it: the idle policy's."""
    nodes_due: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to have the node reconciler take its next pass now (a node asked for or removed)."""
    background: list[asyncio.Task[None]] = field(default_factory=list)
    """Long-lived tasks started at start-up (the local node's supervisor); cancelled at exit."""
