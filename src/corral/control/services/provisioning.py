"""Nodes that providers make: asking for one, and driving each towards what was asked.

The database holds what is wanted (a node in `pending`: make it; in `deleting`: remove it) and
how far it got (`Node.machine`); `reconcile_node` takes one step towards it and can be called
again after any crash, by any control plane process holding the node's lease:

- `pending`: a machine is asked of the provider. `machine` is set to `made` *before* the call,
  so a crash during it leaves a node the next pass creates again; the provider finds the
  machine it already made by its labels and returns it, so there is never a second one. The
  node then waits in `provisioning` for its daemon to join (`services.nodes`).
- past `provision_deadline_at` without being ready: `error`, and the machine is deleted.
- `deleting`, or `error` with a machine: the provider deletes it; the node ends `deleted`.

A provider call that fails in a way worth retrying is tried again later with exponential
backoff (`next_attempt_at`); one that cannot succeed (a refused token) puts the node in `error`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from corral import __version__
from corral.control.db.base import utcnow
from corral.control.db.engine import DbSessionFactory
from corral.control.db.models import (
    Credential,
    CredentialKind,
    MachineState,
    Node,
    NodeJoinToken,
    NodeStep,
)
from corral.control.providers.base import (
    MachineRequest,
    MachineType,
    NodeBootstrap,
    Provider,
    ProviderError,
    Region,
)
from corral.control.providers.registry import load_provider
from corral.control.secretbox import SecretBox
from corral.control.services import activity, costs, credentials, leases, nodes
from corral.control.services.lifecycle import claim_transition
from corral.control.services.names import validate_name
from corral.control.services.tokens import hash_token
from corral.errors import Conflict, CorralError, InvalidInput, PermissionDenied, Unauthenticated
from corral.ids import new_id
from corral.netenv import is_loopback_host
from corral.settings import Settings
from corral.states import NodeState

__all__ = [
    "BOOTSTRAP_LOG_LINES",
    "NodeRequest",
    "Provisioning",
    "machine_offer",
    "next_retry_at",
    "node_for_join_token",
    "nodes_due",
    "provider_kind",
    "recent_steps",
    "reconcile_node",
    "record_step",
    "request_node",
    "request_removal",
]

log = logging.getLogger("corral.provisioning")

BOOTSTRAP_LOG_LINES = 100
FINAL_DELETE_ATTEMPTS = 5
"""Deleting a machine is given up after this many failures that say they will not pass."""
MAX_STEP_CHARS = 300
PROVIDER_FREE = ("manual", "local")
"""Nodes no provider makes: joined by hand, or the node beside the control plane."""


@dataclass(frozen=True)
class Provisioning:
    """What the node reconciler works with; made once per control plane process."""

    db: DbSessionFactory
    settings: Settings
    secret_box: SecretBox
    holder: str = field(default_factory=lambda: new_id("cpl"))
    """This process's name on the leases it takes."""
    on_ready: Callable[[], None] = lambda: None
    """Called when nodes come or go, so pending workspaces are looked at again."""


@dataclass(frozen=True)
class NodeRequest:
    name: str
    provider: str
    machine_type: str | None = None
    region: str | None = None
    credential: str | None = None
    """The user's credential (id or name) the provider works with; the only one of its kind
    when not given."""
    options: dict[str, Any] = field(default_factory=dict)


def provider_kind(name: str, ctx: Provisioning) -> str:
    """`cloud`, `machine`, `local`, or `manual` for nodes no provider makes."""
    if name == "manual":
        return "manual"
    try:
        return load_provider(name, ctx.settings.providers).kind
    except InvalidInput:  # a provider no longer installed or enabled
        return "cloud"


# -- asking for a node ----------------------------------------------------------------------


async def _credential_for(db: AsyncSession, user_id: str, kind: str, ref: str | None) -> Credential:
    if ref is not None:
        row = await credentials.get_credential(db, user_id, ref)
        if row.kind.value != kind:
            raise InvalidInput(
                f"credential {row.name!r} is {row.kind.value}, not {kind}",
                details=[{"field": "body.credential"}],
            )
        return row
    rows = (
        await db.scalars(
            select(Credential).where(
                Credential.user_id == user_id, Credential.kind == CredentialKind(kind)
            )
        )
    ).all()
    if len(rows) == 1:
        return rows[0]
    if not rows:
        raise InvalidInput(
            f"this provider needs a {kind} credential: add one with "
            f"`corral credentials set {kind} --name NAME` (or in Settings)",
            reason="credential_missing",
            details=[{"field": "body.credential"}],
        )
    raise InvalidInput(
        f"you have {len(rows)} {kind} credentials; say which with --credential "
        f"({', '.join(sorted(row.name for row in rows))})",
        details=[{"field": "body.credential"}],
    )


async def _open(
    db: AsyncSession, ctx: Provisioning, name: str, user_id: str, credential_id: str | None
) -> Provider:
    cls = load_provider(name, ctx.settings.providers)
    secret = None
    if cls.credential_kind is not None:
        row = await db.get(Credential, credential_id) if credential_id else None
        if row is None or row.user_id != user_id:
            raise ProviderError(
                f"the {cls.credential_kind} credential this node was made with is gone; "
                "remove the machine at the provider by hand",
                retryable=False,
                reason="credential_missing",
            )
        secret = await credentials.reveal_credential(db, ctx.secret_box, row)
    return cls.open(ctx.settings.providers, secret)


async def machine_offer(
    db: AsyncSession, ctx: Provisioning, user_id: str, provider: str, credential: str | None
) -> tuple[list[MachineType], list[Region]]:
    """The sizes and regions `provider` offers the user, with prices."""
    cls = load_provider(provider, ctx.settings.providers)
    credential_id = None
    if cls.credential_kind is not None:
        credential_id = (await _credential_for(db, user_id, cls.credential_kind, credential)).id
    async with await _open(db, ctx, provider, user_id, credential_id) as opened:
        return await opened.machine_types(), await opened.regions()


def _clean_ssh_options(options: dict[str, Any]) -> dict[str, Any]:
    host = options.get("host")
    user = options.get("user") or "root"
    port = options.get("port", 22)
    if not isinstance(host, str) or not host or len(host) > 253 or host.startswith("-"):
        raise InvalidInput("an ssh node needs the server's host", details=[{"field": "body.ssh"}])
    if any(char.isspace() or char in "@/\\'\"`$;" for char in host):
        raise InvalidInput(
            f"{host!r} is not a host name or address", details=[{"field": "body.ssh"}]
        )
    if not isinstance(user, str) or not _is_user_name(user):
        raise InvalidInput(f"{user!r} is not a user name", details=[{"field": "body.ssh"}])
    if not isinstance(port, int) or not 0 < port < 65536:
        raise InvalidInput("the ssh port is 1-65535", details=[{"field": "body.ssh"}])
    return {"host": host, "port": port, "user": user}


def _is_user_name(user: str) -> bool:
    return 0 < len(user) <= 32 and user[0] != "-" and all(c.isalnum() or c in "._-" for c in user)


async def _check_limits(
    db: AsyncSession, ctx: Provisioning, user_id: str, price: float | None, currency: str | None
) -> None:
    settings = ctx.settings.providers
    if settings.max_nodes_per_user is not None:
        have = await db.scalar(
            select(func.count())
            .select_from(Node)
            .where(
                Node.user_id == user_id,
                Node.provider.not_in(PROVIDER_FREE),
                Node.state.not_in([NodeState.DELETED.value, NodeState.DELETING.value]),
            )
        )
        if (have or 0) >= settings.max_nodes_per_user:
            raise Conflict(
                f"you have {have} nodes, the most a user may have "
                f"(providers.max_nodes_per_user); remove one first",
                reason="node_limit",
            )
    if settings.max_monthly_spend is not None and price is not None:
        now = utcnow()
        spent = sum(
            spend.this_month
            for spend in await costs.spend_by_user(db, now, user_id=user_id)
            if spend.currency == currency
        )
        running = sum(
            spend.per_hour_now
            for spend in await costs.spend_by_user(db, now, user_id=user_id)
            if spend.currency == currency
        )
        # Nodes asked for and not made yet will cost too: a burst of requests must not pass.
        coming = await db.scalar(
            select(func.sum(Node.hourly_price)).where(
                Node.user_id == user_id,
                Node.currency == currency,
                Node.billing_started_at.is_(None),
                Node.state.in_(
                    [NodeState.PENDING.value, NodeState.PROVISIONING.value, NodeState.JOINING.value]
                ),
            )
        )
        to_month_end = (running + (coming or 0.0) + price) * costs.hours_left_in_month(now)
        if spent + to_month_end > settings.max_monthly_spend:
            raise Conflict(
                f"this node ({price:.4f} {currency}/h) would take your spending past the monthly "
                f"limit of {settings.max_monthly_spend:.2f} {currency}: {spent:.2f} spent so far, "
                f"{to_month_end:.2f} more by the month's end with it running",
                reason="spend_limit",
            )


def _check_control_url(ctx: Provisioning, url: str, kind: str, options: dict[str, Any]) -> None:
    """A made node dials `public_url`: say now, not after a 15-minute deadline, when it cannot.

    A loopback URL reaches the machine itself, not this control plane, unless the machine is
    this one (an SSH node on 127.0.0.1, the tests' machines); plain http to another machine
    is refused by the node (its join token and credential would cross the network readable).
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if is_loopback_host(host):
        here = kind == "machine" and is_loopback_host(str(options.get("host", "")))
        if here or ctx.settings.providers.allow_loopback_control_url:
            return
        raise InvalidInput(
            f"new nodes would dial this control plane at {url}, their own loopback: set "
            "public_url to the https URL other machines reach it at (docs/deploy.md)",
            reason="loopback_control_url",
        )
    if parts.scheme == "https":
        return
    raise InvalidInput(
        f"new nodes would dial this control plane at {url}, which is not https: their join "
        "token would cross the network in clear, and they refuse it; set public_url to the "
        "https URL it is reached at (docs/deploy.md), or join a machine by hand with "
        "`corral node add NAME` and `corral node run --insecure` on a network you trust",
        reason="insecure_control_url",
    )


async def request_node(
    db: AsyncSession, ctx: Provisioning, actor_id: str, request: NodeRequest
) -> Node:
    """Record a node to be made by `request.provider` (in `pending`; the reconciler makes it)."""
    validate_name(request.name, "node")
    cls = load_provider(request.provider, ctx.settings.providers)
    if cls.kind == "local":
        raise InvalidInput(
            "the local node is run by `corral up` itself", details=[{"field": "body.provider"}]
        )
    if await db.scalar(select(Node.id).where(Node.name == request.name)) is not None:
        raise Conflict(f"a node named {request.name!r} exists already", reason="name_taken")
    credential_id = None
    if cls.credential_kind is not None:
        credential_id = (
            await _credential_for(db, actor_id, cls.credential_kind, request.credential)
        ).id
    options = dict(request.options)
    price = currency = None
    machine_type, region = request.machine_type, request.region
    if cls.kind == "machine":
        options = _clean_ssh_options(options)
    if cls.kind == "cloud":
        types, regions = await machine_offer(
            db, ctx, actor_id, request.provider, request.credential
        )
        chosen = next((t for t in types if t.name == machine_type), None)
        if chosen is None:
            raise InvalidInput(
                f"{request.provider} has no size {machine_type!r} "
                f"(it has: {', '.join(t.name for t in types) or 'none'})",
                details=[{"field": "body.machine_type"}],
            )
        known_regions = chosen.regions or tuple(r.name for r in regions)
        if region not in known_regions:
            raise InvalidInput(
                f"{chosen.name} is not offered in {region!r} "
                f"(it is in: {', '.join(known_regions) or 'none'})",
                details=[{"field": "body.region"}],
            )
        price, currency = chosen.price_in(region), chosen.currency
        options = {"allow_ssh": bool(options.get("allow_ssh", False))}
    _check_control_url(ctx, ctx.settings.effective_public_url, cls.kind, options)
    await _check_limits(db, ctx, actor_id, price, currency)
    now = utcnow()
    node = Node(
        id=new_id("nod"),
        user_id=actor_id,
        name=request.name,
        provider=request.provider,
        state=NodeState.PENDING,
        state_reason="waiting for the provider",
        machine_type=machine_type,
        region=region,
        options=options,
        credential_id=credential_id,
        machine=MachineState.NONE,
        hourly_price=price,
        currency=currency,
        provision_deadline_at=now
        + timedelta(seconds=ctx.settings.providers.provision_timeout_seconds),
        next_attempt_at=now,
        attempts=0,
    )
    db.add(node)
    activity.record(
        db,
        "node.created",
        node,
        user_id=actor_id,
        actor_id=actor_id,
        details={
            "provider": request.provider,
            **({"machine_type": machine_type, "region": region} if cls.kind == "cloud" else {}),
            **({"host": options["host"]} if cls.kind == "machine" else {}),
            **({"hourly_price": price, "currency": currency} if price is not None else {}),
        },
    )
    await db.commit()
    return node


async def request_removal(db: AsyncSession, actor_id: str, is_owner: bool, node: Node) -> Node:
    """Remove a node: a provider's node goes to `deleting` (the reconciler deletes its machine
    and then it is `deleted`); a manual or local one is deleted at once. Its credential stops
    working either way."""
    if not is_owner and node.user_id != actor_id:
        raise PermissionDenied(
            "only the owner can remove other people's nodes", reason="owner_only"
        )
    if node.state == NodeState.DELETING:
        return node
    if node.provider in PROVIDER_FREE:
        return await nodes.finish_deletion(db, node, actor_id=actor_id)
    # Even with no machine recorded: a creation in flight may be making one right now, and
    # the provider's delete finds it by its labels.
    await nodes.set_node_state(db, node, NodeState.DELETING, reason="deleting the machine")
    node.credential_hash = None
    await _revoke_join_tokens(db, node)
    node.next_attempt_at = utcnow()
    node.attempts = 0
    await db.commit()
    return node


# -- bootstrap progress ----------------------------------------------------------------------


async def node_for_join_token(db: AsyncSession, token: str) -> Node:
    """The node a join token was made for, while the token is neither expired nor revoked
    (used is fine: a bootstrap reports steps after joining). Does not use it up."""
    row = await db.scalar(
        select(NodeJoinToken).where(NodeJoinToken.token_hash == hash_token(token))
    )
    node = await db.get(Node, row.node_id) if row is not None else None
    if (
        row is None
        or node is None
        or row.revoked_at is not None
        or row.expires_at <= utcnow()
        or node.state in (NodeState.DELETING, NodeState.DELETED)
    ):
        raise Unauthenticated("the join token is not valid", reason="join_token_invalid")
    return node


async def record_step(db: AsyncSession, node: Node, step: str, *, commit: bool = True) -> None:
    """Add a step to the node's bootstrap log; while the node is being made it is also its
    state's reason, so lists show it."""
    # A machine's words, shown in terminals and pages: one line, no control characters.
    step = " ".join("".join(c if c.isprintable() else " " for c in step).split())
    step = step[:MAX_STEP_CHARS]
    if not step:
        return
    db.add(NodeStep(node_id=node.id, at=utcnow(), step=step))
    if node.state in (NodeState.PENDING, NodeState.PROVISIONING, NodeState.JOINING):
        node.state_reason = step
    if commit:
        await db.commit()


async def _step(ctx: Provisioning, node_id: str, step: str) -> None:
    async with ctx.db() as db:
        node = await db.get(Node, node_id)
        if node is not None:
            await record_step(db, node, step)


# -- the reconciler's steps ------------------------------------------------------------------


def _backoff(ctx: Provisioning, attempts: int) -> float:
    settings = ctx.settings.providers
    return float(
        min(settings.retry_max_seconds, settings.retry_min_seconds * 2 ** max(0, attempts - 1))
    )


async def _retry_later(db: AsyncSession, ctx: Provisioning, node: Node, message: str) -> None:
    node.attempts += 1
    delay = _backoff(ctx, node.attempts)
    node.next_attempt_at = utcnow() + timedelta(seconds=delay)
    node.last_error = message
    await record_step(db, node, f"{message} (trying again in {max(delay, 1):.0f} s)")
    log.warning(
        "node %s: %s; trying again in %.0f s", node.name, message, delay, extra={"node_id": node.id}
    )


def _bootstrap(ctx: Provisioning, token: str) -> NodeBootstrap:
    base = ctx.settings.effective_public_url.rstrip("/")
    return NodeBootstrap(
        control_url=base,
        join_token=token,
        node_version=__version__,
        package_url=f"{base}/api/v1/nodes/package",
        progress_url=f"{base}/api/v1/nodes/bootstrap",
    )


def _options_for(node: Node) -> dict[str, Any]:
    """What the user told the provider, and the SSH host key recorded on first contact: a
    retry must not trust the server's key afresh."""
    options = dict(node.options or {})
    host_key = (node.provider_handle or {}).get("host_key")
    if host_key:
        options["known_host_key"] = host_key
    return options


async def _make(db: AsyncSession, ctx: Provisioning, node: Node) -> None:
    assert node.provision_deadline_at is not None
    remaining = (node.provision_deadline_at - utcnow()).total_seconds()
    try:
        provider = await _open(db, ctx, node.provider, node.user_id, node.credential_id)
    except ProviderError as exc:
        await _failed_call(db, ctx, node, exc)
        return
    # Written with the token, before the call: from here a machine may exist, and every later
    # pass (and the orphan sweeper) knows to look for it.
    node.machine = MachineState.MADE
    await record_step(db, node, f"asking {node.provider} for the machine", commit=False)
    # The token lives as long as the node may take to join: a retry mints a new one, and the
    # machine a lost attempt made still joins with the one in its user data.
    token = await nodes.new_join_token(db, node, ttl_seconds=max(60, int(remaining)))
    async with ctx.db() as own:  # made on first use: a lost race rolls back its own session only
        instance = await leases.instance_id(own)
    request = MachineRequest(
        node_id=node.id,
        node_name=node.name,
        owner_id=node.user_id,
        instance_id=instance,
        bootstrap=_bootstrap(ctx, token),
        machine_type=node.machine_type or "",
        region=node.region or "",
        options=_options_for(node),
        allow_ssh=bool((node.options or {}).get("allow_ssh", False)),
    )
    try:
        async with provider:
            machine = await provider.create_machine(request, lambda step: _step(ctx, node.id, step))
    except ProviderError as exc:
        await db.refresh(node)
        await _failed_call(db, ctx, node, exc)
        return
    await db.refresh(node)
    node.provider_handle = machine.handle
    node.billing_started_at = node.billing_started_at or utcnow()
    node.attempts, node.next_attempt_at, node.last_error = 0, None, None
    activity.record(
        db,
        "node.machine_made",
        node,
        user_id=node.user_id,
        actor_id=None,
        details={"provider": node.provider, "machine": machine.id},
    )
    await db.commit()  # what was made is recorded whatever happened to the node meanwhile
    if node.state != NodeState.PENDING:  # removed, failed or joined while it was being made
        return
    # Only if still pending: a removal committed since must not be undone.
    if await claim_transition(
        db, "node", node, NodeState.PROVISIONING, reason="waiting for it to join"
    ):
        await record_step(
            db,
            node,
            f"{node.provider} made the machine ({machine.name}); waiting for the node to join",
        )
    else:
        await db.rollback()


async def _revoke_join_tokens(db: AsyncSession, node: Node) -> None:
    """A node that failed or is being removed must not join after all; the caller commits."""
    await db.execute(
        update(NodeJoinToken)
        .where(NodeJoinToken.node_id == node.id, NodeJoinToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def _failed_call(db: AsyncSession, ctx: Provisioning, node: Node, exc: ProviderError) -> None:
    if exc.retryable:
        await _retry_later(db, ctx, node, exc.message)
    else:
        await _fail(db, node, exc.message)


async def _fail(db: AsyncSession, node: Node, message: str) -> None:
    """`error` with the reason; the machine, if any, is deleted by the next step. Its join
    tokens stop working: a machine being deleted must not join after all."""
    node.last_error = message
    node.next_attempt_at = utcnow()
    node.credential_hash = None
    await _revoke_join_tokens(db, node)
    await nodes.set_node_state(db, node, NodeState.ERROR, reason=message)
    await db.commit()
    log.warning("node %s failed: %s", node.name, message, extra={"node_id": node.id})


async def _delete_machine(db: AsyncSession, ctx: Provisioning, node: Node) -> bool:
    """Delete the node's machine at its provider; True once it is gone."""
    if provider_kind(node.provider, ctx) == "machine" and not (node.provider_handle or {}).get(
        "host_key"
    ):
        # Never reached (no host key was ever recorded): nothing of Corral's is there, and a
        # server that cannot be reached must not keep the node `deleting` for ever.
        await record_step(db, node, "nothing was installed on the server", commit=False)
        node.machine = MachineState.GONE
        await db.commit()
        return True
    await record_step(db, node, f"asking {node.provider} to delete the machine")
    try:
        async with await _open(db, ctx, node.provider, node.user_id, node.credential_id) as p:
            # What the user said (an SSH host) under what the provider recorded: a crash may
            # have lost the record, and the provider finds its machine by the node's labels.
            handle = {**_options_for(node), **(node.provider_handle or {})}
            await p.delete_machine(node.id, handle)
    except ProviderError as exc:
        await db.refresh(node)
        if exc.retryable or node.attempts + 1 < FINAL_DELETE_ATTEMPTS:
            await _retry_later(db, ctx, node, f"deleting the machine failed: {exc.message}")
            return False
        # A failure that will not pass (a revoked token, a server whose host key changed):
        # say so plainly and let the node go, rather than keep it `deleting` for ever.
        await record_step(
            db,
            node,
            f"could not delete the machine: {exc.message}; remove it at {node.provider} by hand",
            commit=False,
        )
        activity.record(
            db,
            "node.machine_left",
            node,
            user_id=node.user_id,
            actor_id=None,
            details={"provider": node.provider, "error": exc.message},
        )
        node.machine = MachineState.GONE
        node.billing_ended_at = node.billing_ended_at or utcnow()
        await db.commit()
        log.error("gave up deleting the machine of node %s: %s", node.name, exc.message)
        return True
    await db.refresh(node)
    node.machine = MachineState.GONE
    node.billing_ended_at = node.billing_ended_at or utcnow()
    node.attempts, node.next_attempt_at, node.last_error = 0, None, None
    activity.record(
        db,
        "node.machine_deleted",
        node,
        user_id=node.user_id,
        actor_id=None,
        details={"provider": node.provider},
    )
    await db.commit()
    return True


async def reconcile_node(ctx: Provisioning, node_id: str) -> None:
    """Take one node one step towards what is wanted of it, if no other process holds it."""
    seconds = ctx.settings.providers.lease_seconds
    async with leases.hold(ctx.db, f"node:{node_id}", ctx.holder, seconds=seconds) as got:
        if not got:
            return
        async with ctx.db() as db:
            node = await db.get(Node, node_id)
            if node is None or node.provider in PROVIDER_FREE:
                return
            try:
                await _take_step(db, ctx, node)
            except Exception as exc:
                # A bug, or a provider that is no longer enabled: back off like any failure,
                # never spin on the node (each turn would mint a token and log a step).
                log.exception("the step of node %s failed", node.name)
                await db.rollback()
                fresh = await db.get(Node, node_id)
                if fresh is not None:
                    message = exc.message if isinstance(exc, CorralError) else "an internal error"
                    await _retry_later(db, ctx, fresh, message)


async def _take_step(db: AsyncSession, ctx: Provisioning, node: Node) -> None:
    now = utcnow()
    if node.next_attempt_at is not None and node.next_attempt_at > now:
        return
    if node.state == NodeState.DELETING:
        if await _delete_machine(db, ctx, node):
            await nodes.finish_deletion(db, node, actor_id=None)
            ctx.on_ready()
    elif node.state == NodeState.ERROR and node.machine == MachineState.MADE:
        await _delete_machine(db, ctx, node)
    elif node.state in (NodeState.PENDING, NodeState.PROVISIONING, NodeState.JOINING):
        deadline = node.provision_deadline_at
        if deadline is not None and now >= deadline:
            minutes = ctx.settings.providers.provision_timeout_seconds / 60
            await _fail(db, node, f"the node was not ready within {minutes:.0f} min")
            if node.machine == MachineState.MADE:
                await _delete_machine(db, ctx, node)
        elif node.state == NodeState.PENDING:
            await _make(db, ctx, node)


def due_filter(now: datetime) -> Any:
    return (Node.next_attempt_at.is_(None)) | (Node.next_attempt_at <= now)


async def nodes_due(db: AsyncSession, now: datetime) -> list[str]:
    """The nodes with a step to take now: to make, past their deadline, or to delete."""
    waiting = (NodeState.PROVISIONING.value, NodeState.JOINING.value)
    rows = await db.scalars(
        select(Node.id)
        .where(
            Node.provider.not_in(PROVIDER_FREE),
            due_filter(now),
            or_(
                Node.state.in_([NodeState.PENDING.value, NodeState.DELETING.value]),
                and_(Node.state.in_(waiting), Node.provision_deadline_at <= now),
                and_(Node.state == NodeState.ERROR, Node.machine == MachineState.MADE),
            ),
        )
        .order_by(Node.id)
    )
    return list(rows)


async def next_retry_at(db: AsyncSession, now: datetime) -> datetime | None:
    """When the soonest node waiting to retry a step is due, so the loop wakes then."""
    found: datetime | None = await db.scalar(
        select(func.min(Node.next_attempt_at)).where(
            Node.provider.not_in(PROVIDER_FREE),
            Node.next_attempt_at > now,
            Node.state.in_(
                [
                    NodeState.PENDING.value,
                    NodeState.DELETING.value,
                    NodeState.ERROR.value,
                ]
            ),
        )
    )
    return found


async def recent_steps(db: AsyncSession, node_ids: list[str]) -> dict[str, list[NodeStep]]:
    """The last `BOOTSTRAP_LOG_LINES` steps of each node, oldest first."""
    found: dict[str, list[NodeStep]] = {node_id: [] for node_id in node_ids}
    if not node_ids:
        return found
    rows = await db.scalars(
        select(NodeStep).where(NodeStep.node_id.in_(node_ids)).order_by(NodeStep.id)
    )
    for row in rows:
        found[row.node_id].append(row)
    return {node_id: steps[-BOOTSTRAP_LOG_LINES:] for node_id, steps in found.items()}
