"""Nodes: adding one (and its join token), joining, linking, heartbeats and staleness.

Nodes are shared machines managed by the owner: any signed-in user may see them and place
workspaces on them; only the owner adds and removes them. A node proves who it is with a
credential it got once for a single-use join token; only hashes of both are stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, or_, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.models import Node, NodeJoinToken, User, UserRole
from corral.control.services import activity
from corral.control.services.lifecycle import claim_transition, transition
from corral.control.services.lookup import find_by_ref
from corral.control.services.names import validate_name
from corral.control.services.pagination import paginate
from corral.control.services.tokens import hash_token, new_token, redeem_single_use
from corral.control.services.users import require_owner
from corral.errors import Conflict, Unauthenticated
from corral.ids import new_id
from corral.protocol.messages import NodeHeartbeat
from corral.states import NodeState

__all__ = [
    "authenticate_node",
    "create_node",
    "delete_node",
    "finish_deletion",
    "get_node",
    "heartbeat",
    "join_node",
    "list_nodes",
    "mark_linked",
    "mark_stale_nodes",
    "new_join_token",
    "reissue_join_token",
    "set_node_state",
    "visible_to",
]

JOIN_TOKEN_PREFIX = "crljoin"  # noqa: S105 (a prefix, not a secret)
NODE_CREDENTIAL_PREFIX = "crlnode"


async def set_node_state(
    db: AsyncSession, node: Node, state: NodeState, *, reason: str | None = None
) -> None:
    """Move a node to `state` and record it; the caller commits."""
    await transition(db, "node", node, state, reason=reason)


async def create_node(
    db: AsyncSession, actor: User, name: str, *, provider: str, ttl_seconds: int
) -> tuple[Node, str]:
    """Add a node in `pending` and return it with a single-use join token (shown once)."""
    require_owner(actor, "add nodes")
    validate_name(name, "node")
    if await db.scalar(select(Node.id).where(Node.name == name)) is not None:
        raise Conflict(f"a node named {name!r} exists already", reason="name_taken")
    node = Node(
        id=new_id("nod"), user_id=actor.id, name=name, provider=provider, state=NodeState.PENDING
    )
    db.add(node)
    activity.record(
        db,
        "node.created",
        node,
        user_id=actor.id,
        actor_id=actor.id,
        details={"provider": provider},
    )
    await db.flush()
    token = await new_join_token(db, node, ttl_seconds=ttl_seconds)
    return node, token


async def reissue_join_token(
    db: AsyncSession, actor: User, ref: str, *, ttl_seconds: int
) -> tuple[Node, str]:
    """A new join token for a node that has not joined yet (one whose token expired, or was
    shown somewhere it should not have been); the node's earlier tokens stop working."""
    require_owner(actor, "make join tokens")
    node = await get_node(db, ref)
    if node.state != NodeState.PENDING:
        raise Conflict(
            f"node {node.name} has joined already ({node.state.value}); to join another "
            f"machine in its place, remove it and add it again",
            reason="node_joined",
        )
    await db.execute(
        update(NodeJoinToken)
        .where(
            NodeJoinToken.node_id == node.id,
            NodeJoinToken.used_at.is_(None),
            NodeJoinToken.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    activity.record(db, "node.join_token_issued", node, user_id=node.user_id, actor_id=actor.id)
    return node, await new_join_token(db, node, ttl_seconds=ttl_seconds)


async def new_join_token(db: AsyncSession, node: Node, *, ttl_seconds: int) -> str:
    token = new_token(JOIN_TOKEN_PREFIX)
    db.add(
        NodeJoinToken(
            id=new_id("njt"),
            node_id=node.id,
            token_hash=hash_token(token),
            expires_at=utcnow() + timedelta(seconds=ttl_seconds),
        )
    )
    await db.commit()
    return token


async def join_node(db: AsyncSession, token: str) -> tuple[Node, str]:
    """Use up a join token: the node gets a new credential (returned once) and is `joining`."""
    row = await redeem_single_use(
        db,
        NodeJoinToken,
        token,
        what="join token",
        reason="join_token",
        remedy="make a new one with `corral node token NAME`",
    )
    node = await db.get(Node, row.node_id)
    if node is None or node.state in (NodeState.DELETING, NodeState.DELETED):
        await db.commit()
        raise Unauthenticated("the node was removed", reason="join_token_invalid")
    # Only from the state read above: a removal committed since must not be undone.
    if node.state != NodeState.JOINING and not await claim_transition(
        db, "node", node, NodeState.JOINING
    ):
        await db.rollback()
        raise Unauthenticated("the node was removed", reason="join_token_invalid")
    credential = new_token(NODE_CREDENTIAL_PREFIX)
    node.credential_hash = hash_token(credential)
    await db.commit()
    return node, credential


async def authenticate_node(db: AsyncSession, credential: str) -> Node:
    node = await db.scalar(select(Node).where(Node.credential_hash == hash_token(credential)))
    if node is None or node.state in (NodeState.DELETING, NodeState.DELETED):
        raise Unauthenticated("the node credential is not valid", reason="node_credential_invalid")
    return node


async def mark_linked(db: AsyncSession, node: Node, *, version: str) -> None:
    node.version = version
    node.last_seen_at = utcnow()
    await set_node_state(db, node, NodeState.READY)
    await db.commit()


async def heartbeat(db: AsyncSession, node_id: str, beat: NodeHeartbeat) -> bool:
    """Store a node's health; a stale node that beats again is ready again (and True is
    returned, so the caller can take its workspaces' state from it again)."""
    node = await db.get(Node, node_id)
    if node is None:
        return False
    node.last_seen_at = utcnow()
    node.version = beat.node_version
    node.capacity = {
        "cpus": beat.cpus,
        "memory_bytes": beat.memory_total_bytes,
        "disk_bytes": beat.disk_total_bytes,
        "isolation": beat.isolation.model_dump(),
        "network": beat.network.model_dump(),
        "runtimes": [runtime.model_dump() for runtime in beat.runtimes],
        "allocatable_cpus": beat.cpus if beat.allocatable_cpus is None else beat.allocatable_cpus,
        "allocatable_memory_bytes": beat.memory_total_bytes
        if beat.allocatable_memory_bytes is None
        else beat.allocatable_memory_bytes,
    }
    node.usage = {
        "memory_bytes": beat.memory_used_bytes,
        "disk_bytes": beat.disk_used_bytes,
        "load1": beat.load1,
        "workspaces": beat.workspaces,
        "terminals": beat.terminals,
        "sessions": beat.sessions,
        "agents": beat.agents,
    }
    revived = node.state == NodeState.STALE
    if revived:
        await set_node_state(db, node, NodeState.READY)
    await db.commit()
    return revived


async def mark_stale_nodes(db: AsyncSession, *, silent_since: datetime) -> list[Node]:
    """Mark `ready` nodes not heard from since `silent_since` as stale; return them."""
    stale = (
        await db.scalars(
            select(Node).where(
                Node.state == NodeState.READY,
                or_(Node.last_seen_at.is_(None), Node.last_seen_at < silent_since),
            )
        )
    ).all()
    for node in stale:
        await set_node_state(db, node, NodeState.STALE, reason="missed heartbeats")
    if stale:
        await db.commit()
    return list(stale)


def visible_to(viewer: User | None) -> ColumnElement[bool]:
    """Nodes the owner added are shared by everyone; a member's own (a cloud machine paid
    with their token, their SSH server) are theirs alone, and the owner's to see."""
    if viewer is None or viewer.role == UserRole.OWNER:
        return true()
    owners = select(User.id).where(User.role == UserRole.OWNER)
    return or_(Node.user_id == viewer.id, Node.user_id.in_(owners))


async def list_nodes(
    db: AsyncSession, viewer: User, *, limit: int, cursor: str | None
) -> tuple[Sequence[Node], str | None]:
    statement = select(Node).where(Node.state != NodeState.DELETED, visible_to(viewer))
    return await paginate(db, statement, Node.id, limit=limit, cursor=cursor)


async def get_node(db: AsyncSession, ref: str, viewer: User | None = None) -> Node:
    """A node by id or name; with `viewer`, only one they may see (others answer 404)."""
    return await find_by_ref(
        db, Node, ref, what="node", where=[Node.state != NodeState.DELETED, visible_to(viewer)]
    )


async def delete_node(db: AsyncSession, actor: User, ref: str) -> Node:
    """Remove a node no provider made (manual, local): its credential stops working at once.
    Its workspaces lose their node. Nodes a provider made go through `provisioning`."""
    require_owner(actor, "remove nodes")
    return await finish_deletion(db, await get_node(db, ref), actor_id=actor.id)


async def finish_deletion(db: AsyncSession, node: Node, *, actor_id: str | None) -> Node:
    """The last step of removing any node: `deleted`, its credential void, its name free."""
    if node.state != NodeState.DELETING:
        await transition(db, "node", node, NodeState.DELETING, actor_id=actor_id)
    node.credential_hash = None
    await transition(db, "node", node, NodeState.DELETED, actor_id=actor_id)
    node.name = f"{node.name}~{node.id}"[:64]  # frees the name for a new node
    node.billing_ended_at = node.billing_ended_at or (
        utcnow() if node.billing_started_at is not None else None
    )
    await db.commit()
    return node
