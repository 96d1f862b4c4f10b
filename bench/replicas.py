"""Two control plane replicas on one PostgreSQL: what the hop to the replica holding a node's
link costs, and how long a node takes to relink when its replica dies.

    .venv/bin/python -m bench.replicas [--calls N] [--keys K] [--updates U]

Starts what tests/support/replicas.py starts (replicas A and B, a balancer, a node linked to
A, a running workspace) and measures each figure through A (which holds the link: the path of
one control plane) and through B (forwarded to A), alternating, in one run:

- a node request: `GET /workspaces/{id}/terminals` (the node lists its terminals), N times;
- a keystroke's echo in `cat` on a terminal viewer, K keys;
- session events: U updates flooded by the scripted agent, read by a viewer on the replica
  (on B they come through PostgreSQL's LISTEN/NOTIFY);
- then A is killed: the time until B holds the node's link, and until a request through B
  reaches the node again.

Prints each figure and B's ratio to A's. The issue names no target for the hop; A's figures
are the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import tempfile
import time
from pathlib import Path

from tests.support.nodes import Api, open_viewer, terminal_url
from tests.support.postgres import PostgresServer
from tests.support.replicas import LINKED, ReplicaPair, replica_pair
from websockets.asyncio.client import connect

from bench.load import percentile

TIMEOUT_SECONDS = 300.0


def request_latencies(api: Api, workspace_id: str, calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        api.get(f"/workspaces/{workspace_id}/terminals")
        samples.append((time.perf_counter() - started) * 1000)
    return samples


async def echo_latencies(
    pair: ReplicaPair, base_url: str, terminal_id: str, keys: int
) -> list[float]:
    ws = pair.workspace_id
    ticket = pair.api_b.post(f"/workspaces/{ws}/terminals/{terminal_id}/tickets")["ticket"]
    async with open_viewer(terminal_url(base_url, ws, terminal_id, ticket=ticket)) as viewer:
        await viewer.drain()
        await viewer.type("cat\n")  # the terminal echoes each key typed into it
        await viewer.drain()
        samples = []
        for n in range(keys):
            key = "abcdefghij"[n % 10]
            before = len(viewer.output)
            started = time.perf_counter()
            await viewer.type(key)
            await viewer.read_at_least(before + 1)
            samples.append((time.perf_counter() - started) * 1000)
        await viewer.type("\x04")
    return samples


async def event_rate(pair: ReplicaPair, base_url: str, session_id: str, updates: int) -> float:
    api = pair.api_b
    after = api.get(f"/sessions/{session_id}")["last_seq"]
    url = (
        base_url.replace("http", "ws", 1) + f"/api/v1/sessions/{session_id}/events/ws?after={after}"
    )
    async with connect(url, additional_headers=api.headers, max_size=None, proxy=None) as viewer:
        started = time.perf_counter()
        await asyncio.to_thread(
            api.post,
            f"/sessions/{session_id}/prompts",
            {"text": f"flood {updates} raw"},
            expect=202,
        )
        seen = 0
        async with asyncio.timeout(TIMEOUT_SECONDS):
            while seen < updates:
                frame = json.loads(await viewer.recv())
                seen += sum(
                    1
                    for e in frame["events"]
                    if e["kind"] == "update"
                    and e["payload"].get("sessionUpdate") == "agent_message_chunk"
                )
        rate = updates / (time.perf_counter() - started)
    # The turn ends before the next run starts.
    for _ in range(int(TIMEOUT_SECONDS * 10)):
        if api.get(f"/sessions/{session_id}")["state"] == "idle":
            break
        await asyncio.sleep(0.1)
    return rate


def relink_times(pair: ReplicaPair) -> tuple[float, float]:
    """Kill A; seconds until B holds the node's link, and until a request through B works."""
    killed = time.perf_counter()
    os.kill(pair.a.pid, signal.SIGKILL)
    linked = None
    reached = None
    deadline = killed + 60
    while time.perf_counter() < deadline and (linked is None or reached is None):
        if linked is None and any(
            r.get("message") == LINKED["message"] for r in pair.b.log_records()
        ):
            linked = time.perf_counter() - killed
        if reached is None:
            answer = pair.api_b.request("GET", f"/workspaces/{pair.workspace_id}/terminals")
            if answer.status_code == 200 and linked is not None:
                reached = time.perf_counter() - killed
        time.sleep(0.02)
    pair.a.stop()
    if linked is None or reached is None:
        raise RuntimeError("the node did not relink to B within 60 s")
    return linked, reached


def line(name: str, a: float, b: float, unit: str) -> str:
    return f"{name:<34} A {a:9.2f} {unit:<9} B {b:9.2f} {unit:<9} B/A {b / a:5.2f}"


async def run(args: argparse.Namespace) -> None:
    postgres = PostgresServer()
    postgres.start()
    try:
        with (
            tempfile.TemporaryDirectory(prefix="corral-bench-replicas-") as base,
            replica_pair(Path(base), postgres) as pair,
        ):
            await measure(pair, args)
    finally:
        postgres.stop()


async def measure(pair: ReplicaPair, args: argparse.Namespace) -> None:
    ws = pair.workspace_id
    a_url, b_url = pair.a.url, pair.b.url
    # Warm both paths once (connections, the forwarding client).
    request_latencies(pair.api_a, ws, 5)
    request_latencies(pair.api_b, ws, 5)
    calls_a: list[float] = []
    calls_b: list[float] = []
    for _ in range(4):
        calls_a += request_latencies(pair.api_a, ws, args.calls // 4)
        calls_b += request_latencies(pair.api_b, ws, args.calls // 4)

    terminal = pair.api_b.post(f"/workspaces/{ws}/terminals", {"cols": 80, "rows": 24})
    echo_a: list[float] = []
    echo_b: list[float] = []
    for _ in range(2):
        echo_a += await echo_latencies(pair, a_url, terminal["id"], args.keys // 2)
        echo_b += await echo_latencies(pair, b_url, terminal["id"], args.keys // 2)

    session = pair.api_b.post("/sessions", {"workspace": ws, "agent": "scripted"})
    for _ in range(600):
        if pair.api_b.get(f"/sessions/{session['id']}")["state"] == "idle":
            break
        await asyncio.sleep(0.1)
    rates_a, rates_b = [], []
    for _ in range(2):
        rates_a.append(await event_rate(pair, a_url, session["id"], args.updates))
        rates_b.append(await event_rate(pair, b_url, session["id"], args.updates))

    linked, reached = relink_times(pair)

    print("two replicas on PostgreSQL; the node is linked to A; B forwards to A")
    print(line("node request p50", percentile(calls_a, 50), percentile(calls_b, 50), "ms"))
    print(line("node request p99", percentile(calls_a, 99), percentile(calls_b, 99), "ms"))
    print(line("keystroke echo p50", percentile(echo_a, 50), percentile(echo_b, 50), "ms"))
    print(line("keystroke echo p99", percentile(echo_a, 99), percentile(echo_b, 99), "ms"))
    print(line("session events", max(rates_a), max(rates_b), "updates/s"))
    print(f"{'A killed: node linked to B after':<34} {linked:9.2f} s")
    print(f"{'A killed: request through B after':<34} {reached:9.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=400, help="node requests per replica")
    parser.add_argument("--keys", type=int, default=400, help="keystrokes per replica")
    parser.add_argument("--updates", type=int, default=20_000, help="session updates per run")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
