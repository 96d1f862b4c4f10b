"""A fleet on one control plane: its CPU, memory and API p99 as the fleet grows.

    .venv/bin/python -m bench.fleet [--sizes 100,300,1000] [--sessions 500] [--rate 20]
                                    [--viewers 100] [--seconds 20]

A real `corral serve` (SQLite, its defaults) and, in this process, simulated nodes that speak
the real node link over real WebSockets: each joins with its own token (`POST /nodes`, then
`/nodes/join`), links with its credential, says hello, beats (cpus, memory, runtimes) at the
interval the control plane gives it, and answers the requests a node answers (workspaces made
and listed, sessions started, listed and stopped). No program runs behind them: a session's
agent is the simulated node sending its events, as `session.events` batches four times a second.

On the first fleet size, SESSIONS workspaces are made through the API (placed on the nodes by
the control plane, five at most per node) with a session each, streaming RATE updates a second;
VIEWERS WebSocket viewers watch as many sessions' events. Then for each size: the fleet grows to
it, settles, and for SECONDS the control plane's CPU (of one core) and RSS are read from /proc
while `GET /workspaces` and `GET /nodes` are timed every 100 ms. Target (issue 16): 1,000 nodes
and 500 streaming sessions with API p99 <= 100 ms, or the largest fleet that holds it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from tests.support.processes import corral_env, corral_server
from tests.support.sessions import make_repo
from websockets.asyncio.client import ClientConnection, connect

from bench.load import percentile
from bench.terminal import cpu_seconds, rss_mib
from corral import __version__
from corral.protocol.base import Empty
from corral.protocol.frames import PROTOCOL_VERSION, Hello, Welcome, parse_frame
from corral.protocol.messages import (
    NodeHeartbeat,
    RuntimeInfo,
    WorkspaceList,
    WorkspaceRef,
    WorkspaceSpec,
    WorkspaceStatus,
)
from corral.protocol.peer import Handler, Peer
from corral.protocol.sessions import (
    SessionAck,
    SessionEvent,
    SessionEventKind,
    SessionEvents,
    SessionEventsAck,
    SessionList,
    SessionRef,
    SessionStart,
    SessionSummary,
)
from corral.states import WorkspaceState

TARGET_API_P99_MS = 100.0
EMIT_INTERVAL_SECONDS = 0.25
API_INTERVAL_SECONDS = 0.1
SETTLE_SECONDS = 5.0
JOIN_CONCURRENCY = 20
POST_ATTEMPTS = 30
WORKSPACES_PER_NODE = 5
READY_TIMEOUT_SECONDS = 300.0


class _Transport:
    """The peer's way out: the node's WebSocket."""

    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection

    async def send_text(self, text: str) -> None:
        await self.connection.send(text)

    async def send_bytes(self, data: bytes) -> None:
        await self.connection.send(data)


@dataclass
class _Session:
    start: SessionStart
    next_seq: int


@dataclass
class SimNode:
    """One simulated node: a real link, a real protocol, no programs."""

    name: str
    credential: str
    link_url: str
    rate: float
    workspaces: dict[str, WorkspaceStatus] = field(default_factory=dict)
    sessions: dict[str, _Session] = field(default_factory=dict)
    linked: asyncio.Event = field(default_factory=asyncio.Event)
    sent_events: int = 0
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    """Reports sent after an answer; held here, as the event loop keeps only weak references."""

    def _later(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def handlers(self) -> dict[str, Handler]:
        return {
            "workspace.create": self._create,
            "workspace.start": self._start,
            "workspace.stop": self._stop,
            "workspace.delete": self._delete,
            "workspace.list": self._list,
            "session.start": self._session_start,
            "session.stop": self._session_stop,
            "session.cancel": self._session_ack,
            "session.list": self._session_list,
        }

    async def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.credential}"}
        async with connect(self.link_url, additional_headers=headers, max_size=None) as ws:
            await ws.send(
                Hello(protocol_version=PROTOCOL_VERSION, node_version=__version__).model_dump_json()
            )
            welcome = parse_frame(await ws.recv())
            assert isinstance(welcome, Welcome), welcome
            self.peer = Peer(_Transport(ws), handlers=self.handlers(), name="control plane")
            tasks = [
                asyncio.create_task(self._beat(welcome.heartbeat_interval_seconds)),
                asyncio.create_task(self._emit()),
            ]
            self.linked.set()
            try:
                async for message in ws:
                    if isinstance(message, bytes):
                        await self.peer.handle_bytes(message)
                    else:
                        await self.peer.handle_text(message)
            finally:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                await self.peer.close("the link closed")

    async def _beat(self, interval: float) -> None:
        while True:
            beat = NodeHeartbeat(
                cpus=4,
                memory_total_bytes=16 << 30,
                memory_used_bytes=2 << 30,
                disk_total_bytes=200 << 30,
                disk_used_bytes=20 << 30,
                load1=0.3,
                workspaces=len(self.workspaces),
                terminals=0,
                sessions=len(self.sessions),
                node_version=__version__,
                runtimes=[RuntimeInfo(name="host")],
            )
            await self.peer.notify("heartbeat", beat)
            await asyncio.sleep(interval)

    async def _emit(self) -> None:
        """Each session's updates, a batch per session every EMIT_INTERVAL_SECONDS."""
        per_batch = max(1, round(self.rate * EMIT_INTERVAL_SECONDS))
        while True:
            await asyncio.sleep(EMIT_INTERVAL_SECONDS)
            for session_id, session in list(self.sessions.items()):
                now = datetime.now(UTC)
                events = []
                for _ in range(per_batch):
                    update = {
                        "sessionUpdate": "agent_message_chunk",
                        "content": {"type": "text", "text": "simulated output "},
                    }
                    events.append(
                        SessionEvent(
                            seq=session.next_seq,
                            kind=SessionEventKind.UPDATE,
                            payload=update,
                            at=now,
                        )
                    )
                    session.next_seq += 1
                ack = await self.peer.call(
                    "session.events",
                    SessionEvents(session_id=session_id, events=events),
                    SessionEventsAck,
                )
                assert ack.acked_seq == events[-1].seq, (ack, events[-1].seq)
                self.sent_events += len(events)

    # -- what a node answers ---------------------------------------------------------------------

    async def _create(self, spec: WorkspaceSpec) -> WorkspaceStatus:
        """Made at once: the answer says creating, and a moment later the node reports it
        running, as a node whose clone finished does."""
        self.workspaces[spec.id] = WorkspaceStatus(id=spec.id, state=WorkspaceState.RUNNING)
        self._later(self._report_running(spec.id))
        return WorkspaceStatus(id=spec.id, state=WorkspaceState.CREATING)

    async def _report_running(self, workspace_id: str) -> None:
        await asyncio.sleep(0.2)
        await self.peer.notify("workspace.state", self.workspaces[workspace_id])

    async def _start(self, ref: WorkspaceRef) -> WorkspaceStatus:
        status = WorkspaceStatus(id=ref.id, state=WorkspaceState.RUNNING)
        self.workspaces[ref.id] = status
        return status

    async def _stop(self, ref: WorkspaceRef) -> WorkspaceStatus:
        status = WorkspaceStatus(id=ref.id, state=WorkspaceState.STOPPED)
        self.workspaces[ref.id] = status
        return status

    async def _delete(self, ref: WorkspaceRef) -> WorkspaceStatus:
        self.workspaces.pop(ref.id, None)
        return WorkspaceStatus(id=ref.id, state=WorkspaceState.DELETED)

    async def _list(self, _: Empty) -> WorkspaceList:
        return WorkspaceList(workspaces=list(self.workspaces.values()))

    async def _session_start(self, start: SessionStart) -> SessionAck:
        session = _Session(start, start.next_seq)
        state = {"state": "idle", "acp_session_id": f"sim-{start.session_id}"}
        event = SessionEvent(
            seq=session.next_seq, kind=SessionEventKind.STATE, payload=state, at=datetime.now(UTC)
        )
        session.next_seq += 1
        self.sessions[start.session_id] = session
        self._later(
            self.peer.call(
                "session.events",
                SessionEvents(session_id=start.session_id, events=[event]),
                SessionEventsAck,
            )
        )
        return SessionAck(session_id=start.session_id)

    async def _session_stop(self, ref: SessionRef) -> SessionAck:
        self.sessions.pop(ref.session_id, None)
        return SessionAck(session_id=ref.session_id)

    async def _session_ack(self, ref: SessionRef) -> SessionAck:
        return SessionAck(session_id=ref.session_id)

    async def _session_list(self, _: Empty) -> SessionList:
        return SessionList(
            sessions=[SessionSummary(id=session_id, state="idle") for session_id in self.sessions]
        )


# -- measuring -----------------------------------------------------------------------------------


@dataclass
class Step:
    nodes: int
    cpu_percent: float
    rss_mib: float
    workspaces_p99_ms: float
    nodes_p99_ms: float
    events_per_second: float


class Fleet:
    def __init__(self, api: httpx.AsyncClient, base_url: str, rate: float) -> None:
        self.api = api
        self.link_url = base_url.replace("http", "ws", 1) + "/api/v1/nodes/link"
        self.rate = rate
        self.nodes: list[SimNode] = []
        self.tasks: list[asyncio.Task[None]] = []

    async def grow(self, size: int) -> None:
        """Join and link nodes until there are `size`."""
        semaphore = asyncio.Semaphore(JOIN_CONCURRENCY)

        async def join(index: int) -> None:
            async with semaphore:
                name = f"sim-{index:04d}"
                added = await self.api.post("/nodes", json={"name": name, "provider": "manual"})
                token = added.raise_for_status().json()["join_token"]
                joined = await self.api.post("/nodes/join", json={"join_token": token})
                node = SimNode(
                    name, joined.raise_for_status().json()["credential"], self.link_url, self.rate
                )
                self.nodes.append(node)
                running = asyncio.create_task(node.run())
                self.tasks.append(running)
                linked = asyncio.create_task(node.linked.wait())
                await asyncio.wait({running, linked}, timeout=60, return_when="FIRST_COMPLETED")
                linked.cancel()
                if running.done():
                    running.result()  # what ended it
                    raise SystemExit(f"{name}'s link closed")
                if not node.linked.is_set():
                    raise SystemExit(f"{name} did not link within 60 s")

        await asyncio.gather(*(join(index) for index in range(len(self.nodes), size)))

    async def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)


async def _poll(
    api: httpx.AsyncClient, path: str, samples: list[float], stop: asyncio.Event
) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        (await api.get(path)).raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), API_INTERVAL_SECONDS)


async def _watch(url: str, headers: dict[str, str]) -> None:
    """A viewer of one session's events, reading as a browser tab does."""
    async with connect(url, additional_headers=headers, max_size=None) as viewer:
        async for _ in viewer:
            pass


async def _ready(api: httpx.AsyncClient, path: str, count: int, state: str) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        items: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page = await api.get(
                path, params={"limit": 200, **({"cursor": cursor} if cursor else {})}
            )
            body = page.raise_for_status().json()
            items += body["items"]
            cursor = body.get("next_cursor")
            if not cursor:
                break
        if sum(1 for item in items if item["state"] == state) >= count:
            return
        await asyncio.sleep(1.0)
    raise SystemExit(f"fewer than {count} of {path} became {state} in {READY_TIMEOUT_SECONDS:g} s")


async def measure(fleet: Fleet, pid: int, seconds: float) -> Step:
    await asyncio.sleep(SETTLE_SECONDS)
    stop = asyncio.Event()
    workspaces: list[float] = []
    nodes: list[float] = []
    pollers = [
        asyncio.create_task(_poll(fleet.api, "/workspaces", workspaces, stop)),
        asyncio.create_task(_poll(fleet.api, "/nodes", nodes, stop)),
    ]
    cpu_before, sent_before, started = (
        cpu_seconds(pid),
        sum(n.sent_events for n in fleet.nodes),
        time.monotonic(),
    )
    await asyncio.sleep(seconds)
    elapsed = time.monotonic() - started
    cpu = (cpu_seconds(pid) - cpu_before) / elapsed * 100
    sent = sum(n.sent_events for n in fleet.nodes) - sent_before
    stop.set()
    await asyncio.gather(*pollers)
    return Step(
        len(fleet.nodes),
        cpu,
        rss_mib((pid,)),
        percentile(workspaces, 99),
        percentile(nodes, 99),
        sent / elapsed,
    )


async def post_retrying(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    """POST as a client should: a 503 (SQLite busy under the flood) is tried again after its
    Retry-After."""
    for _ in range(POST_ATTEMPTS):
        made = await api.post(path, json=body)
        if made.status_code != 503:
            break
        await asyncio.sleep(float(made.headers.get("retry-after", "1")))
    return made.raise_for_status().json()


@contextlib.asynccontextmanager
async def control_plane(root: Path) -> AsyncIterator[tuple[httpx.AsyncClient, str, int]]:
    env = corral_env(root / "home")
    env["CORRAL_PLACEMENT__MAX_WORKSPACES_PER_NODE"] = str(WORKSPACES_PER_NODE)
    with corral_server(root / "data", env) as server:
        assert server.link is not None
        async with httpx.AsyncClient(
            base_url=f"{server.url}/api/v1", timeout=60.0, trust_env=False
        ) as api:
            exchanged = await api.post(
                "/auth/exchange", json={"token": server.link.split("token=")[1]}
            )
            api.headers["Authorization"] = (
                f"Bearer {exchanged.raise_for_status().json()['token']['token']}"
            )
            yield api, server.url, server.pid


async def run(options: argparse.Namespace) -> list[Step]:
    sizes = [int(size) for size in options.sizes.split(",")]
    steps: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="corral-bench-fleet-") as scratch:
        root = Path(scratch)
        make_repo(root / "repo", {"README.md": "fleet\n"})
        async with control_plane(root) as (api, url, pid):
            fleet = Fleet(api, url, options.rate)
            viewers: list[asyncio.Task[None]] = []
            try:
                print(f"joining {sizes[0]} nodes", flush=True)
                await fleet.grow(sizes[0])
                (
                    await api.post("/projects", json={"name": "fleet", "repo": str(root / "repo")})
                ).raise_for_status()
                (
                    await api.post("/agents", json={"name": "sim", "command": ["sim-agent"]})
                ).raise_for_status()
                print(f"making {options.sessions} workspaces and sessions", flush=True)
                semaphore = asyncio.Semaphore(JOIN_CONCURRENCY)

                async def workspace(index: int) -> str:
                    async with semaphore:
                        body = {"project": "fleet", "name": f"w{index}"}
                        return str((await post_retrying(api, "/workspaces", body))["id"])

                ids = await asyncio.gather(*(workspace(i) for i in range(options.sessions)))
                await _ready(api, "/workspaces", options.sessions, "running")

                async def session(workspace_id: str) -> str:
                    async with semaphore:
                        body = {"workspace": workspace_id, "agent": "sim"}
                        return str((await post_retrying(api, "/sessions", body))["id"])

                sessions = await asyncio.gather(*(session(w) for w in ids))
                await _ready(api, "/sessions", options.sessions, "idle")
                base = url.replace("http", "ws", 1)
                headers = {"Authorization": api.headers["Authorization"]}
                viewers = [
                    asyncio.create_task(_watch(f"{base}/api/v1/sessions/{s}/events/ws", headers))
                    for s in sessions[: options.viewers]
                ]
                for size in sizes:
                    print(f"fleet of {size} nodes", flush=True)
                    await fleet.grow(size)
                    steps.append(await measure(fleet, pid, options.seconds))
            finally:
                for viewer in viewers:
                    viewer.cancel()
                await asyncio.gather(*viewers, return_exceptions=True)
                await fleet.close()
    return steps


def report(steps: list[Step], options: argparse.Namespace) -> None:
    print()
    print(
        f"{options.sessions} sessions at {options.rate:g} updates/s, {options.viewers} viewers, "
        f"{options.seconds:g} s per size"
    )
    print(
        f"{'nodes':>6} {'CPU %':>7} {'RSS MiB':>8} {'GET /workspaces p99':>20} "
        f"{'GET /nodes p99':>15} {'events/s':>9}"
    )
    for step in steps:
        print(
            f"{step.nodes:>6} {step.cpu_percent:>7.0f} {step.rss_mib:>8.0f} "
            f"{step.workspaces_p99_ms:>17.1f} ms {step.nodes_p99_ms:>12.1f} ms "
            f"{step.events_per_second:>9,.0f}"
        )
    holding = [s for s in steps if max(s.workspaces_p99_ms, s.nodes_p99_ms) <= TARGET_API_P99_MS]
    largest = max((s.nodes for s in holding), default=0)
    verdict = "meets target" if largest == max(s.nodes for s in steps) else "MISSES target"
    print(
        f"largest fleet with API p99 <= {TARGET_API_P99_MS:g} ms: {largest} nodes "
        f"(target: {max(s.nodes for s in steps)}): {verdict}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,300,1000")
    parser.add_argument("--sessions", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="updates/s per session")
    parser.add_argument("--viewers", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=20.0)
    options = parser.parse_args()
    report(asyncio.run(run(options)), options)


if __name__ == "__main__":
    main()
