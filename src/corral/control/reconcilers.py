"""Background loops of the control plane, run for its lifetime from the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from corral.control.db.base import utcnow
from corral.control.services import (
    autoscale,
    idle,
    idlenodes,
    nodes,
    orphans,
    placing,
    provisioning,
    workspaces,
)
from corral.control.state import AppState

__all__ = [
    "enforce_idle_policy_forever",
    "mark_stale_nodes_forever",
    "place_workspaces",
    "place_workspaces_forever",
    "reconcile_nodes",
    "reconcile_nodes_forever",
    "stop_idle_workspaces",
    "sweep_orphans_forever",
    "sweep_stale_nodes",
    "write_activity",
]

log = logging.getLogger("corral.reconcilers")


async def sweep_stale_nodes(state: AppState) -> int:
    """Mark nodes that missed their heartbeats stale, and their workspaces unreachable."""
    settings = state.settings.nodes
    silent_for = settings.heartbeat_interval_seconds * settings.missed_heartbeats_before_stale
    async with state.db() as db:
        stale = await nodes.mark_stale_nodes(
            db, silent_since=utcnow() - timedelta(seconds=silent_for)
        )
        for node in stale:
            log.warning("node %s missed its heartbeats", node.name, extra={"node_id": node.id})
            await workspaces.mark_node_unreachable(db, node)
    return len(stale)


async def mark_stale_nodes_forever(state: AppState) -> None:
    settings = state.settings.nodes
    period = settings.heartbeat_interval_seconds / 2
    # Beats missed while this process was down say nothing about the nodes: give them the same
    # silence allowance from start-up to relink, so a restart does not flip every workspace to
    # error and back.
    await asyncio.sleep(
        settings.heartbeat_interval_seconds * settings.missed_heartbeats_before_stale
    )
    while True:
        try:
            await sweep_stale_nodes(state)
        except Exception:
            log.exception("the stale-node sweep failed; trying again")
        await asyncio.sleep(period)


async def place_workspaces(state: AppState) -> int:
    """One placement pass over the pending workspaces (`services/placing`); then a node is
    asked for where a user's workspaces still find no room and they said which (`autoscale`)."""
    async with state.db() as db:
        placed = await placing.place_pending(db, state.node_registry, state.settings.placement)
    if await autoscale.ask_for_nodes(state.provisioning):
        state.nodes_due.set()
    return placed


async def _woken_or_after(event: asyncio.Event, seconds: float) -> None:
    """Return when `event` is set, or after `seconds`. `asyncio.timeout`, not `wait_for`: in
    Python 3.11 `wait_for` can swallow a cancellation that lands as the event is set, and a
    loop that missed its cancellation kept a shutting-down app waiting for ever."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


async def place_workspaces_forever(state: AppState) -> None:
    """Place pending workspaces every `placement.interval_seconds`, and at once whenever
    `state.placement_due` is set (a wake during a pass makes another pass)."""
    due = state.placement_due
    while True:
        due.clear()
        try:
            await place_workspaces(state)
        except Exception:
            log.exception("placing workspaces failed; trying again")
        await _woken_or_after(due, state.settings.placement.interval_seconds)


async def write_activity(state: AppState) -> int:
    """Write what this process saw of its workspaces' activity (typing, viewers) since the last
    write; returns how many workspaces it wrote."""
    taken = state.presence.take()
    try:
        async with state.db() as db:
            await idle.record_activity(db, taken)
    except BaseException:
        state.presence.give_back(taken)
        raise
    return len(taken)


async def stop_idle_workspaces(state: AppState) -> int:
    """Stop the running workspaces whose idle deadline has passed; returns how many stopped."""
    async with state.db() as db:
        due = await idle.find_idle(
            db,
            state.node_registry,
            state.presence,
            default_timeout_minutes=state.settings.idle.default_timeout_minutes,
        )
    stopped = 0
    for item in due:
        async with state.db() as db:
            stopped += await idle.stop_idle(db, state.node_registry, item)
    if stopped:
        state.placement_due.set()  # what they held is free for pending workspaces
    return stopped


async def _every(seconds: float, what: str, work: Callable[[], Awaitable[object]]) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await work()
        except Exception:
            log.exception("%s failed; trying again", what)


async def enforce_idle_policy_forever(state: AppState) -> None:
    """Write workspaces' activity and stop the idle ones, each at its own interval."""
    settings = state.settings.idle
    async with asyncio.TaskGroup() as group:
        group.create_task(
            _every(
                settings.activity_write_interval_seconds,
                "writing workspace activity",
                lambda: write_activity(state),
            )
        )
        group.create_task(
            _every(
                settings.check_interval_seconds,
                "the idle workspace check",
                lambda: stop_idle_workspaces(state),
            )
        )


class NodeReconciler:
    """Takes the nodes' steps (`services.provisioning`): each node due gets a task of its own,
    since one step can take minutes (an SSH install), and a node already in hand in this
    process is not started twice. The lease keeps other processes off it."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.in_hand: dict[str, asyncio.Task[None]] = {}
        self.next_retry_in: float | None = None
        """Seconds until the soonest retry is due, as the last pass saw it."""

    async def pass_once(self) -> list[asyncio.Task[None]]:
        """One pass: start the due nodes' steps and note idle nodes; returns the started tasks
        (awaited by tests and benchmarks, not by the loop)."""
        now = utcnow()
        ctx = self.state.provisioning
        async with self.state.db() as db:
            due = await provisioning.nodes_due(db, now)
            retry_at = await provisioning.next_retry_at(db, now)
        self.next_retry_in = (retry_at - now).total_seconds() if retry_at else None
        started = []
        for node_id in due:
            if node_id in self.in_hand:
                continue
            task = asyncio.create_task(self._step(node_id), name=f"node {node_id}")
            self.in_hand[node_id] = task
            started.append(task)
        await idlenodes.release_idle_nodes(ctx, now)
        return started

    async def _step(self, node_id: str) -> None:
        try:
            await provisioning.reconcile_node(self.state.provisioning, node_id)
        except Exception:
            log.exception("the node reconciler failed on %s; trying again", node_id)
        finally:
            self.in_hand.pop(node_id, None)
            self.state.nodes_due.set()  # its next step may be due now (deleted after failing)

    async def close(self) -> None:
        tasks = list(self.in_hand.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def reconcile_nodes(state: AppState) -> int:
    """One whole pass, its steps awaited; returns how many nodes had a step to take."""
    reconciler = NodeReconciler(state)
    tasks = await reconciler.pass_once()
    await asyncio.gather(*tasks)
    return len(tasks)


async def reconcile_nodes_forever(state: AppState) -> None:
    reconciler = NodeReconciler(state)
    due = state.nodes_due
    try:
        while True:
            due.clear()
            try:
                await reconciler.pass_once()
            except Exception:
                log.exception("the node reconciler failed; trying again")
            wait = state.settings.providers.reconcile_interval_seconds
            if reconciler.next_retry_in is not None:
                wait = min(wait, max(reconciler.next_retry_in, 0.05))
            await _woken_or_after(due, wait)
    finally:
        await reconciler.close()


async def sweep_orphans_forever(state: AppState) -> None:
    await _every(
        state.settings.providers.orphan_sweep_interval_seconds,
        "the orphan sweep",
        lambda: orphans.sweep_orphans(state.provisioning),
    )
