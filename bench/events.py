"""Session events from an agent to a browser viewer, through Corral and read directly.

    .venv/bin/python -m bench.events [--updates N] [--latency-updates M] [--rate R]
                                     [--sessions S] [--session-updates K]

The scripted ACP agent (tests/support/scripted_agent.py) emits updates. Two paths read them:

- Corral: a real `corral serve` and `corral node run`; the agent runs in a workspace,
  the node writes each update to its SQLite outbox and sends it, the control plane stores it in
  its database and publishes it to a WebSocket viewer (`/sessions/{id}/events/ws`), which is
  what a browser tab does;
- bare: the ACP Python SDK's client reading the same agent directly over stdio, in this
  process, with nothing stored: the baseline.

Throughput: the agent emits N updates as fast as it can (`flood N raw`); updates/s is N over
the time from sending the prompt to the last update's arrival. Latency: the agent emits M
updates at R a second (`flood M rate=R`), each stamped with its send time; the viewer notes
when each arrives. Many sessions: S sessions (50) each flood K updates (2,000) at once, each
watched by its own viewer; updates/s is S*K over the time from the first prompt to the last
update's arrival. Prints the figures and their targets: >= 20,000 updates/s through Corral for
one session and for S together, >= 0.5 of the bare client's rate, p99 latency <= 20 ms at 1,000
updates/s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import acp
from acp import schema
from tests.support.processes import descendants
from tests.support.sessions import (
    SCRIPTED_AGENT,
    SCRIPTED_AGENT_RUNTIME_SETTINGS,
    SessionSite,
    session_site,
)
from websockets.asyncio.client import connect

from bench.terminal import cpu_seconds

TARGET_UPDATES_PER_SECOND = 20_000
TARGET_RATIO = 0.5
TARGET_P99_MS = 20.0
TIMEOUT_SECONDS = 300.0
CHUNK_MARK = '"sessionUpdate":"agent_message_chunk"'
"""Once in each message chunk event as viewers get it (the texts flooded are numbers)."""


# -- Corral --------------------------------------------------------------------------------------


def cpu_by_process(site: SessionSite) -> dict[str, float]:
    """CPU seconds used so far by each process an update passes through."""
    assert site.server is not None and site.node is not None
    below_node = 0.0
    for pid in descendants(site.node.pid):
        with contextlib.suppress(OSError):
            below_node += cpu_seconds(pid)
    return {
        "agent": below_node,
        "node daemon": cpu_seconds(site.node.pid),
        "control plane": cpu_seconds(site.server.pid),
        "viewer (this process)": time.process_time(),
    }


def print_cpu(
    site: SessionSite, before: dict[str, float], updates: int, rate: float, what: str
) -> None:
    """Where the time went: each process's CPU per 10,000 updates, beside the wall time."""
    print(f"CPU per 10,000 updates, {what} (wall time: {10_000 / rate:.2f} s):")
    for name, seconds in cpu_by_process(site).items():
        print(f"  {name:<24} {(seconds - before[name]) * 10_000 / updates:.2f} s", flush=True)


async def corral_run(site: SessionSite, session_id: str, prompt: str, count: int) -> list[float]:
    """Send `prompt`; return, for each of `count` message chunks, its latency in ms when the
    chunk carries a send time, else its arrival time. The first element is the prompt's time."""
    after = site.session(session_id)["last_seq"]
    url = (
        site.url.replace("http", "ws", 1) + f"/api/v1/sessions/{session_id}/events/ws?after={after}"
    )
    arrivals: list[float] = []
    async with connect(url, additional_headers=site.api.headers, max_size=None) as viewer:
        sent = time.time()
        await asyncio.to_thread(site.prompt, session_id, prompt)
        async with asyncio.timeout(TIMEOUT_SECONDS):
            while len(arrivals) < count:
                frame = json.loads(await viewer.recv())
                now = time.time()
                for event in frame["events"]:
                    update = event["payload"]
                    if (
                        event["kind"] != "update"
                        or update.get("sessionUpdate") != "agent_message_chunk"
                    ):
                        continue
                    words = update["content"]["text"].split()
                    arrivals.append((now - float(words[1])) * 1000 if len(words) > 1 else now)
    return [sent, *arrivals]


async def corral_many(site: SessionSite, session_ids: list[str], count: int) -> float:
    """Have every session flood `count` updates at once, each watched by a viewer; return the
    updates per second of all of them together, as their viewers got them."""
    base = site.url.replace("http", "ws", 1)
    async with contextlib.AsyncExitStack() as stack:
        viewers = []
        for session_id in session_ids:
            after = site.session(session_id)["last_seq"]
            url = f"{base}/api/v1/sessions/{session_id}/events/ws?after={after}"
            viewers.append(
                await stack.enter_async_context(
                    connect(url, additional_headers=site.api.headers, max_size=None)
                )
            )

        async def watch(viewer: Any) -> float:
            """The arrival time of the session's last update. The chunks are counted in each
            frame's text, not parsed: fifty viewers parsing in this process would take CPU from
            the control plane on a machine of two cores, where a browser runs elsewhere."""
            seen = 0
            while seen < count:
                seen += (await viewer.recv()).count(CHUNK_MARK)
            return time.time()

        watching = [asyncio.create_task(watch(viewer)) for viewer in viewers]
        started = time.time()
        await asyncio.gather(
            *(asyncio.to_thread(site.prompt, s, f"flood {count} raw") for s in session_ids)
        )
        async with asyncio.timeout(TIMEOUT_SECONDS):
            finished = max(await asyncio.gather(*watching))
    return len(session_ids) * count / (finished - started)


async def corral_paths(args: argparse.Namespace) -> tuple[float, list[float], float]:
    with tempfile.TemporaryDirectory(prefix="corral-bench-events-") as tmp:
        node_env = {"CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS}
        with session_site(
            Path(tmp), {"README.md": "bench\n"}, node_env=node_env, wait_seconds=60
        ) as site:
            site.api.post(
                "/agents", {"name": "scripted", "command": [sys.executable, str(SCRIPTED_AGENT)]}
            )
            session = site.start("scripted")
            site.wait_state(session["id"], "idle")
            await corral_run(site, session["id"], "flood 1000 raw", 1000)  # warm up
            cpu_before = cpu_by_process(site)
            times = await corral_run(site, session["id"], f"flood {args.updates} raw", args.updates)
            rate = args.updates / (times[-1] - times[0])
            print_cpu(site, cpu_before, args.updates, rate, "one session")
            prompt = f"flood {args.latency_updates} rate={args.rate}"
            latencies = (await corral_run(site, session["id"], prompt, args.latency_updates))[1:]
            site.api.post(f"/sessions/{session['id']}/stop", expect=200)
            print(f"corral: starting {args.sessions} sessions", flush=True)
            many = [site.start("scripted")["id"] for _ in range(args.sessions)]
            for session_id in many:
                site.wait_state(session_id, "idle", seconds=120)
            await corral_many(site, many, 100)  # warm up
            cpu_before = cpu_by_process(site)
            many_rate = await corral_many(site, many, args.session_updates)
            total = args.sessions * args.session_updates
            print_cpu(site, cpu_before, total, many_rate, f"{args.sessions} sessions")
            for session_id in many:
                site.api.post(f"/sessions/{session_id}/stop", expect=200)
            return rate, latencies, many_rate


# -- the bare SDK client ---------------------------------------------------------------------------


class CountingClient:
    """The least an ACP client can do: count message chunks."""

    def __init__(self) -> None:
        self.chunks = 0

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        if isinstance(update, schema.AgentMessageChunk):
            self.chunks += 1

    async def request_permission(self, *args: Any, **kwargs: Any) -> Any:
        raise acp.RequestError.method_not_found("session/request_permission")

    def on_connect(self, conn: Any) -> None:
        pass


async def bare_rate(count: int) -> float:
    client = CountingClient()
    # The SDK's Client protocol lists every method; the agent here calls none but updates.
    sdk_client = cast(acp.Client, client)
    async with acp.spawn_agent_process(sdk_client, sys.executable, str(SCRIPTED_AGENT)) as (
        conn,
        _,
    ):
        await conn.initialize(protocol_version=acp.PROTOCOL_VERSION)
        session = await conn.new_session(cwd=str(Path.cwd()), mcp_servers=[])
        text = schema.TextContentBlock(type="text", text="flood 1000 raw")
        await conn.prompt(session_id=session.session_id, prompt=[text])  # warm up
        client.chunks = 0
        started = time.time()
        text = schema.TextContentBlock(type="text", text=f"flood {count} raw")
        await conn.prompt(session_id=session.session_id, prompt=[text])
        elapsed = time.time() - started
    if client.chunks != count:
        raise SystemExit(f"the bare client saw {client.chunks} of {count} updates")
    return count / elapsed


# -- report ----------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


async def run(args: argparse.Namespace) -> None:
    print(f"bare SDK client: {args.updates} updates", flush=True)
    bare = await bare_rate(args.updates)
    print("corral: starting a control plane, a node and a workspace", flush=True)
    corral, latencies, many = await corral_paths(args)
    p50 = statistics.median(latencies)
    p99 = statistics.quantiles(latencies, n=100, method="inclusive")[98]
    print()
    timed = f"{args.latency_updates} at {args.rate:g}/s"
    print(f"updates: {args.updates} as fast as the agent can, {timed}")
    print(f"{'bare SDK client (no storage)':<52} {bare:>10,.0f} updates/s")
    print(f"{'corral (node outbox > control plane db > viewer ws)':<52} {corral:>10,.0f} updates/s")
    together = f"corral, {args.sessions} sessions together"
    print(f"{together:<52} {many:>10,.0f} updates/s")
    print()
    print(
        f"corral throughput: {corral:,.0f}/s (target >= {TARGET_UPDATES_PER_SECOND:,}): "
        f"{verdict(corral >= TARGET_UPDATES_PER_SECOND)}"
    )
    print(
        f"corral, {args.sessions} sessions: {many:,.0f}/s "
        f"(target >= {TARGET_UPDATES_PER_SECOND:,}): {verdict(many >= TARGET_UPDATES_PER_SECOND)}"
    )
    ratio = corral / bare
    ok = ratio >= TARGET_RATIO
    print(f"corral/bare ratio: {ratio:.2f} (target >= {TARGET_RATIO}): {verdict(ok)}")
    print(
        f"agent-to-viewer latency at {args.rate:g}/s: p50 {p50:.1f} ms, p99 {p99:.1f} ms "
        f"(target p99 <= {TARGET_P99_MS:g} ms): {verdict(p99 <= TARGET_P99_MS)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--updates", type=int, default=50_000, help="updates for throughput")
    parser.add_argument("--latency-updates", type=int, default=5_000, help="updates timed")
    parser.add_argument("--rate", type=float, default=1000.0, help="updates/s while timing")
    parser.add_argument("--sessions", type=int, default=50, help="sessions flooding together")
    parser.add_argument("--session-updates", type=int, default=2000, help="updates per session")
    args = parser.parse_args()
    if args.updates < 1000 or args.latency_updates < 100 or args.rate <= 0:
        parser.error("use at least 1000 updates, 100 timed updates and a positive rate")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
