"""The orphan sweeper: machines a provider holds under this instance's label that no live node
stands for are deleted, so nothing Corral forgot keeps costing money.

An orphan comes from a crash the reconcilers could not finish (a machine made for a node whose
row was lost with a restored database), a node removed by hand from the database, or a machine
made by a second Corral sharing the instance's id. One younger than `orphan_grace_seconds` is
left alone: it may be a creation the reconciler is about to record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from corral.control.db.base import utcnow
from corral.control.db.models import Credential, CredentialKind, MachineState, Node, User
from corral.control.providers.base import LABEL_OWNER, Machine, Provider, ProviderError
from corral.control.providers.registry import load_provider
from corral.control.services import activity, auth, credentials, leases
from corral.control.services.provisioning import Provisioning
from corral.errors import InvalidInput
from corral.states import NodeState

__all__ = ["sweep_orphans"]

log = logging.getLogger("corral.orphans")

SWEEP_LEASE = "sweep:orphans"


@dataclass(frozen=True)
class _Subject:
    id: str
    name: str


def _is_orphan(machine: Machine, node: Node | None) -> bool:
    return node is None or node.state == NodeState.DELETED or node.machine == MachineState.GONE


async def sweep_orphans(ctx: Provisioning) -> int:
    """One sweep over every cloud provider account a user has given Corral; returns how many
    machines it deleted."""
    seconds = ctx.settings.providers.lease_seconds
    async with leases.hold(ctx.db, SWEEP_LEASE, ctx.holder, seconds=seconds) as got:
        if not got:
            return 0
        deleted = 0
        for name in ctx.settings.providers.enabled:
            try:
                cls = load_provider(name, ctx.settings.providers)
            except InvalidInput:
                continue
            if cls.kind != "cloud":
                continue
            accounts: list[tuple[str, str | None]] = [("", None)]
            if cls.credential_kind is not None:
                async with ctx.db() as db:
                    rows = (
                        await db.scalars(
                            select(Credential).where(
                                Credential.kind == CredentialKind(cls.credential_kind)
                            )
                        )
                    ).all()
                    accounts = [
                        (row.user_id, await credentials.reveal_credential(db, ctx.secret_box, row))
                        for row in rows
                    ]
            for user_id, secret in accounts:
                try:  # one refused token must not stop the sweep of the others
                    deleted += await _sweep_account(
                        ctx, cls.open(ctx.settings.providers, secret), user_id
                    )
                except Exception:
                    log.exception("sweeping a %s account for orphans failed", name)
        return deleted


async def _sweep_account(ctx: Provisioning, provider: Provider, user_id: str) -> int:
    grace = timedelta(seconds=ctx.settings.providers.orphan_grace_seconds)
    now = utcnow()
    deleted = 0
    async with provider:
        async with ctx.db() as db:
            instance = await leases.instance_id(db)
        try:
            machines = await provider.list_machines(instance)
        except ProviderError as exc:
            log.warning("could not list %s machines: %s", provider.name, exc.message)
            return 0
        for machine in machines:
            if machine.instance_id != instance or not machine.node_id:
                continue  # a provider that filters loosely: never touch another's machine
            async with ctx.db() as db:
                node = await db.get(Node, machine.node_id) if machine.node_id else None
                if not _is_orphan(machine, node):
                    continue
                if machine.created_at is None or now - machine.created_at < grace:
                    continue
                try:
                    await provider.delete_machine(machine.node_id or "", machine.handle)
                except ProviderError as exc:
                    log.warning("could not delete orphan %s: %s", machine.name, exc.message)
                    continue
                owner = machine.labels.get(LABEL_OWNER) or user_id
                if not owner or await db.get(User, owner) is None:
                    owner = (await auth.get_owner(db)).id  # someone must hear of it
                if owner:
                    activity.record(
                        db,
                        "node.orphan_deleted",
                        _Subject(id=machine.node_id or machine.id, name=machine.name),
                        user_id=owner,
                        actor_id=None,
                        details={"provider": provider.name, "machine": machine.id},
                    )
                    await db.commit()
                log.warning(
                    "deleted orphaned %s machine %s (%s): no live node stands for it",
                    provider.name,
                    machine.name,
                    machine.id,
                )
                deleted += 1
    return deleted
