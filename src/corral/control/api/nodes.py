"""Routes for nodes: add and remove them and make join tokens (owner), list and show them
(everyone), and joining (a node)."""

from __future__ import annotations

import asyncio
import shlex
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control import nodepackage
from corral.control.api.auth import client_address
from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db, PageParams, State
from corral.control.db.base import utcnow
from corral.control.db.models import Node, User, UserRole
from corral.control.schemas.common import Page
from corral.control.schemas.fields import NodeRef
from corral.control.schemas.nodes import (
    BootstrapLogLine,
    BootstrapStep,
    NodeCreate,
    NodeCreated,
    NodeJoin,
    NodeJoined,
    NodePublic,
    NodeRuntime,
)
from corral.control.services import costs, nodes, provisioning, runtimes
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
    steps = await provisioning.recent_steps(db, [node.id for node in rows])
    now = utcnow()
    month = costs.month_start(now)
    return [
        NodePublic.model_validate(node).model_copy(
            update={
                "connected": state.node_registry.is_connected(node.id),
                "usage": usage[node.id],
                "runtimes": [
                    NodeRuntime.model_validate(runtime.model_dump())
                    for runtime in runtimes.node_runtimes(node)
                ],
                "user_id": node.user_id
                if viewer.role == UserRole.OWNER or node.user_id == viewer.id
                else None,
                "cost_this_month": costs.node_cost(node, month, now)
                if node.hourly_price is not None
                else None,
                "host_key_fingerprint": (node.provider_handle or {}).get("host_key_fingerprint"),
                "bootstrap_log": [
                    BootstrapLogLine(at=step.at, step=step.step) for step in steps[node.id]
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
    rows, next_cursor = await nodes.list_nodes(db, user, limit=page.limit, cursor=page.cursor)
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
    """Add a node. `manual` (owner only) answers the single-use join token for `corral node
    run`; with a provider (`hetzner`, `ssh`) the node is made in the background: follow it
    with `GET /nodes/{node}` (its state and `bootstrap_log`)."""
    if body.provider == "manual":
        ttl = state.settings.nodes.join_token_ttl_seconds
        node, token = await nodes.create_node(
            db, user, body.name, provider="manual", ttl_seconds=ttl
        )
        return await join_answer(db, user, node, token, state)
    options: dict[str, Any] = {"allow_ssh": body.allow_ssh}
    if body.ssh is not None:
        options = body.ssh.model_dump()
    request = provisioning.NodeRequest(
        name=body.name,
        provider=body.provider,
        machine_type=body.machine_type,
        region=body.region,
        credential=body.credential,
        options=options,
    )
    node = await provisioning.request_node(db, state.provisioning, user.id, request)
    state.nodes_due.set()
    return NodeCreated(
        node=await public(db, user, node, state),
        join_token=None,
        join_command=None,
        expires_at=None,
    )


@router.get(
    "/package",
    response_class=FileResponse,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def node_package(request: Request, db: Db, state: State) -> FileResponse:
    """The wheel of this control plane's Corral, which a new machine installs to become a
    node (its cloud-init downloads it), for a bearer join token that is still valid."""
    await _node_of_bearer(request, db, state)
    cache = state.settings.data_dir / "node-packages"
    path = await asyncio.to_thread(nodepackage.node_package, cache)
    return FileResponse(path, media_type="application/octet-stream", filename=path.name)


@router.post("/bootstrap", status_code=204, responses={401: {}})
async def bootstrap_step(body: BootstrapStep, request: Request, db: Db, state: State) -> None:
    """A new machine reports a bootstrap step ("installing Docker"), with its join token as
    the bearer token; the token is not used up."""
    node = await _node_of_bearer(request, db, state)
    await provisioning.record_step(db, node, body.step)


async def _node_of_bearer(request: Request, db: AsyncSession, state: AppState) -> Node:
    """The node whose join token is the request's bearer token; a wrong one counts as a
    failed sign-in attempt of the caller's address."""
    try:
        return await provisioning.node_for_join_token(db, await _bearer(request, db, state))
    except Unauthenticated:
        await state.login_limiter.fail(db, client_address(request))
        raise


async def _bearer(request: Request, db: AsyncSession, state: AppState) -> str:
    client = client_address(request)
    await state.login_limiter.check(db, client)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send the join token as a bearer token", reason="join_token_invalid")
    return token.strip()


@router.post("/join", status_code=201)
async def join(body: NodeJoin, request: Request, db: Db, state: State) -> NodeJoined:
    """Trade a join token for the node's credential (what `corral node run` does first)."""
    client = client_address(request)
    await state.login_limiter.check(db, client)
    try:
        node, credential = await nodes.join_node(db, body.join_token)
    except Unauthenticated:
        await state.login_limiter.fail(db, client)
        raise
    return NodeJoined(node_id=node.id, credential=credential)


@router.get("/{node}")
async def get_node(node: NodeRef, user: CurrentUser, db: Db, state: State) -> NodePublic:
    return await public(db, user, await nodes.get_node(db, node, user), state)


@router.post("/{node}/join-token", status_code=201)
async def reissue_join_token(node: NodeRef, user: CurrentUser, db: Db, state: State) -> NodeCreated:
    """A new join token for a node that has not joined yet (owner only); its earlier tokens
    stop working."""
    ttl = state.settings.nodes.join_token_ttl_seconds
    found, token = await nodes.reissue_join_token(db, user, node, ttl_seconds=ttl)
    return await join_answer(db, user, found, token, state)


@router.delete("/{node}")
async def remove_node(node: NodeRef, user: CurrentUser, db: Db, state: State) -> NodePublic:
    """Remove a node (the owner, or the member who added it); its credential stops working
    and its link is closed. A provider's node goes to `deleting` until its machine is gone."""
    found = await nodes.get_node(db, node, user)
    removed = await provisioning.request_removal(db, user.id, user.role == UserRole.OWNER, found)
    state.nodes_due.set()
    await state.node_registry.disconnect(removed.id, "the node was removed", CLOSE_UNAUTHORIZED)
    return await public(db, user, removed, state)
