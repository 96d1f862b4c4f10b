"""Routes for nodes: add and remove them and make join tokens (owner), list and show them
(everyone), and joining (a node)."""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from datetime import timedelta

from fastapi import APIRouter, Request
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.api.auth import client_address
from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db, PageParams, State
from corral.control.db.base import utcnow
from corral.control.db.models import Node, User
from corral.control.schemas.common import Page
from corral.control.schemas.fields import NodeRef
from corral.control.schemas.nodes import (
    NodeCreate,
    NodeCreated,
    NodeJoin,
    NodeJoined,
    NodePublic,
    NodeRuntime,
)
from corral.control.services import nodes, runtimes
from corral.control.services.nodeusage import usage_seen_by
from corral.control.state import AppState
from corral.errors import Unauthenticated
from corral.protocol.frames import CLOSE_UNAUTHORIZED

router = APIRouter(prefix=f"{API_PREFIX}/nodes", tags=["nodes"])


async def public_nodes(
    db: AsyncSession, viewer: User, rows: Sequence[Node], state: AppState
) -> list[NodePublic]:
    """The nodes as `viewer` sees them: connected or not, and only their own usage counts."""
    usage = await usage_seen_by(db, viewer, rows)
    return [
        NodePublic.model_validate(node).model_copy(
            update={
                "connected": state.node_registry.is_connected(node.id),
                "usage": usage[node.id],
                "runtimes": [
                    NodeRuntime.model_validate(runtime.model_dump())
                    for runtime in runtimes.node_runtimes(node)
                ],
            }
        )
        for node in rows
    ]


async def public(db: AsyncSession, viewer: User, node: Node, state: AppState) -> NodePublic:
    return (await public_nodes(db, viewer, [node], state))[0]


@router.get("")
async def list_nodes(user: CurrentUser, db: Db, state: State, page: PageParams) -> Page[NodePublic]:
    """The shared nodes; a member's usage counts only their own workspaces and sessions."""
    rows, next_cursor = await nodes.list_nodes(db, limit=page.limit, cursor=page.cursor)
    return Page(items=await public_nodes(db, user, rows, state), next_cursor=next_cursor)


async def join_answer(
    db: AsyncSession, viewer: User, node: Node, token: str, state: AppState
) -> NodeCreated:
    """A node with its new join token, and the command that joins a machine with it."""
    url = state.settings.effective_public_url
    command = f"CORRAL_NODE_JOIN_TOKEN={token} corral node run --control-url {shlex.quote(url)}"
    return NodeCreated(
        node=await public(db, viewer, node, state),
        join_token=token,
        join_command=command,
        expires_at=utcnow() + timedelta(seconds=state.settings.nodes.join_token_ttl_seconds),
    )


@router.post("", status_code=201)
async def add_node(body: NodeCreate, user: CurrentUser, db: Db, state: State) -> NodeCreated:
    """Add a node (owner only) and get the single-use join token for `corral node run`."""
    ttl = state.settings.nodes.join_token_ttl_seconds
    node, token = await nodes.create_node(db, user, body.name, provider="manual", ttl_seconds=ttl)
    return await join_answer(db, user, node, token, state)


@router.post("/join", status_code=201)
async def join(body: NodeJoin, request: Request, db: Db, state: State) -> NodeJoined:
    """Trade a join token for the node's credential (what `corral node run` does first)."""
    client = client_address(request)
    state.login_limiter.check(client)
    try:
        node, credential = await nodes.join_node(db, body.join_token)
    except Unauthenticated:
        state.login_limiter.fail(client)
        raise
    return NodeJoined(node_id=node.id, credential=credential)


@router.get("/{node}")
async def get_node(node: NodeRef, user: CurrentUser, db: Db, state: State) -> NodePublic:
    return await public(db, user, await nodes.get_node(db, node), state)


@router.post("/{node}/join-token", status_code=201)
async def reissue_join_token(node: NodeRef, user: CurrentUser, db: Db, state: State) -> NodeCreated:
    """A new join token for a node that has not joined yet (owner only); its earlier tokens
    stop working."""
    ttl = state.settings.nodes.join_token_ttl_seconds
    found, token = await nodes.reissue_join_token(db, user, node, ttl_seconds=ttl)
    return await join_answer(db, user, found, token, state)


@router.delete("/{node}")
async def remove_node(node: NodeRef, user: CurrentUser, db: Db, state: State) -> NodePublic:
    """Remove a node (owner only); its credential stops working and its link is closed."""
    removed = await nodes.delete_node(db, user, node)
    if state.node_registry.is_connected(removed.id):
        await state.node_registry.get(removed.id).close(
            "the node was removed", code=CLOSE_UNAUTHORIZED
        )
    return await public(db, user, removed, state)
