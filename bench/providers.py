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
import json
import tempfile
import time
from collections.abc import Callable
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


CREATE_SECONDS, BOOT_SECONDS = 10.0, 20.0
POLL_SECONDS = 0.02


def _until(check: Callable[[], object], what: str, seconds: float = 300.0) -> float:
    """Poll `check` until it is truthy; the moment it was (perf_counter)."""
    deadline = time.perf_counter() + seconds
    while not check():
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what}: not within {seconds:.0f} s")
        time.sleep(POLL_SECONDS)
    return time.perf_counter()


def create_to_ready() -> dict[str, float]:
    """`POST /nodes` for a Hetzner node to a running workspace on it, in phases (seconds)."""
    from tests.support.hetzner_api import fake_hetzner_api
    from tests.support.nodes import Api, exchange
    from tests.support.processes import corral_env, corral_server
    from tests.support.sessions import make_repo

    with tempfile.TemporaryDirectory() as scratch:
        base = Path(scratch)
        node_env = {"CORRAL_NODE_RUNTIMES": json.dumps(["host"])}
        with fake_hetzner_api(
            base / "hetzner",
            node_env=node_env,
            create_seconds=CREATE_SECONDS,
            boot_seconds=BOOT_SECONDS,
        ) as hetzner:
            env = corral_env(base / "home", None, **hetzner.server_env())
            with corral_server(base / "data", env) as server:
                assert server.link is not None
                api = Api(server.url, exchange(server.url, server.link))
                try:
                    api.call(
                        "PUT",
                        "/credentials/hz",
                        json={"kind": "hetzner", "value": hetzner.token},
                        expect=201,
                    )
                    api.post(
                        "/projects",
                        {"name": "demo", "repo": str(make_repo(base / "repo", {"a.txt": "a\n"}))},
                    )
                    body = {
                        "name": "c1",
                        "provider": "hetzner",
                        "machine_type": "cx23",
                        "region": "fsn1",
                    }
                    started = time.perf_counter()
                    api.post("/nodes", body)
                    asked = _until(lambda: hetzner.count("POST", "/servers") >= 1, "asked")
                    booted = _until(
                        lambda: any(s.boot.node is not None for s in hetzner.servers), "booted"
                    )
                    ready = _until(lambda: api.get("/nodes/c1")["state"] == "ready", "ready")
                    ws = api.post("/workspaces", {"project": "demo", "node": "c1"})
                    running = _until(
                        lambda: api.get(f"/workspaces/{ws['id']}")["state"] == "running",
                        "workspace running",
                    )
                finally:
                    api.close()
    return {
        "asking the provider": asked - started,
        "provider and boot": booted - asked,
        "node start, join, link": ready - booted,
        "workspace placed and running": running - ready,
        "total": running - started,
    }


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
    if args.fleet_only:
        return
    phases = create_to_ready()
    floor = CREATE_SECONDS + BOOT_SECONDS
    for name, seconds in phases.items():
        print(f"  {name}: {seconds:.2f} s")
    # The control plane's own share: asking the provider, and the provider phase beyond its
    # injected delays (polling the create action, recording the machine).
    own = phases["asking the provider"] + max(0.0, phases["provider and boot"] - floor)
    print(
        f"node create to a running workspace: {phases['total']:.1f} s, "
        f"{phases['total'] / floor:.2f}x the {floor:.0f} s of injected provider delays; "
        f"the control plane's own share {own:.2f} s"
    )


if __name__ == "__main__":
    main()
