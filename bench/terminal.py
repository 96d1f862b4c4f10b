"""Terminal latency and throughput through Corral, terminado and a raw PTY, in one run.

    .venv/bin/python -m bench.terminal [--keystrokes N] [--mebibytes M] [--flood-seconds S]

Three paths to a bash on a PTY (bench/terminal_paths.py): Corral (browser WebSocket → control
plane → node daemon → PTY, a real `corral up`), terminado (Jupyter's terminal server, one process)
and a raw local PTY read in this process, the floor. For each it measures:

- keystroke-to-echo latency: in `cat`, one character is sent and timed until its echo (from the
  PTY's line discipline) comes back, N times per path. The paths take turns in rounds of N/10
  keystrokes, so a change in the machine's load hits all of them alike. Every 60 characters an
  Enter, untimed, keeps the line short;
- throughput: `cat` of an M MiB text file, from sending the command until the marker printed after
  it arrives, in MiB of the file per second.

Then, on Corral only, the RSS of the control plane and the node daemon while `yes` floods a
terminal for S seconds, once with a viewer that reads slowly and once with none. Prints a table,
the Corral/terminado ratios and the RSS growth, each against its target.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import random
import statistics
import subprocess
import tempfile
import time
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench.terminal_paths import (
    CorralHost,
    RawPty,
    Screen,
    TerminadoTerminal,
    TerminalClient,
    corral_host,
    terminado_server,
)

MIB = 1024 * 1024
LINE_CHARS = 60
ROUNDS = 10
WARMUP_KEYSTROKES = 50
SLOW_READ_SECONDS = 0.1
RSS_SAMPLE_SECONDS = 0.25
PHASE_TIMEOUT_SECONDS = 300.0
TARGET_P50_RATIO, TARGET_THROUGHPUT_RATIO, TARGET_RSS_MIB = 1.0, 1.0, 50.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class PathResult:
    name: str
    screen: Screen
    payload: str
    latencies_ms: list[float] = field(default_factory=list)
    mib_per_second: float = 0.0

    def percentile(self, q: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[q - 1]


@dataclass
class RssReading:
    label: str
    before_mib: float
    peak_mib: float
    after_mib: float
    note: str = ""

    @property
    def growth_mib(self) -> float:
        return self.peak_mib - self.before_mib


def make_repo(repo: Path, mebibytes: int) -> Path:
    """A git repository whose one commit holds `payload.txt`: M MiB of base64 lines."""
    repo.mkdir()
    size = mebibytes * MIB
    lines = base64.encodebytes(random.Random(0).randbytes(size * 3 // 4 + 64))
    (repo / "payload.txt").write_bytes(lines[: size - 1] + b"\n")
    git = ["git", "-c", "user.name=bench", "-c", "user.email=bench@localhost"]
    for args in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "payload"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
    return repo / "payload.txt"


# -- latency and throughput ------------------------------------------------------------------


async def start_cat(screen: Screen, deadline: float) -> None:
    await screen.run("stty sane", deadline)
    await screen.client.send(b"printf '%s_%s\\n' CAT READY; cat\r")
    await screen.expect(b"CAT_READY\r\n", deadline)


async def type_keys(screen: Screen, count: int, deadline: float) -> list[float]:
    """Type `count` characters into `cat`, timing each until its echo; end on a fresh line."""
    samples: list[float] = []
    line = bytearray()
    for index in range(count):
        char = bytes([ord("a") + index % 26])
        started = time.perf_counter()
        await screen.client.send(char)
        await screen.expect(char, deadline)
        samples.append((time.perf_counter() - started) * 1000)
        line += char
        if len(line) == LINE_CHARS or index == count - 1:
            await screen.client.send(b"\r")
            await screen.expect(bytes(line) + b"\r\n", deadline)  # `cat` printing the line
            line.clear()
    return samples


async def stop_cat(screen: Screen, deadline: float) -> None:
    # Ctrl-D ends `cat` cleanly; after a Ctrl-C the tty would drop what is typed next.
    await screen.client.send(b"\x04")
    await screen.run("", deadline)


async def echo_latency(results: list[PathResult], keystrokes: int) -> None:
    deadline = time.monotonic() + PHASE_TIMEOUT_SECONDS
    for result in results:
        await start_cat(result.screen, deadline)
        await type_keys(result.screen, WARMUP_KEYSTROKES, deadline)
    per_round = -(-keystrokes // ROUNDS)
    for _ in range(ROUNDS):
        for result in results:
            result.latencies_ms += await type_keys(result.screen, per_round, deadline)
    for result in results:
        await stop_cat(result.screen, deadline)


async def throughput(screen: Screen, payload: str, size: int) -> float:
    deadline = time.monotonic() + PHASE_TIMEOUT_SECONDS
    await screen.run("", deadline)
    started = time.perf_counter()
    await screen.client.send(f"cat {payload}; printf '%s_%s\\n' END MARKER\r".encode())
    received = await screen.drain_until(b"END_MARKER", deadline)
    elapsed = time.perf_counter() - started
    if received < size:
        raise RuntimeError(f"only {received} of {size} bytes arrived")
    return size / MIB / elapsed


# -- memory under a flood --------------------------------------------------------------------


def rss_mib(pids: tuple[int, ...]) -> float:
    total_kib = 0
    for pid in pids:
        status = Path(f"/proc/{pid}/status").read_text()
        total_kib += next(int(line.split()[1]) for line in status.splitlines() if "VmRSS" in line)
    return total_kib / 1024


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


class RssSampler:
    """The peak RSS of some processes, sampled in the background until stopped."""

    def __init__(self, pids: tuple[int, ...]) -> None:
        self.pids = pids
        self.start = self.peak = rss_mib(pids)
        self._task = asyncio.create_task(self._sample())

    async def _sample(self) -> None:
        while True:
            self.peak = max(self.peak, rss_mib(self.pids))
            await asyncio.sleep(RSS_SAMPLE_SECONDS)

    async def stop(self, label: str) -> RssReading:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        now = rss_mib(self.pids)
        return RssReading(label, self.start, max(self.peak, now), now)


async def flood(host: CorralHost, seconds: float, viewer: bool) -> RssReading:
    """`yes` in a new terminal for `seconds`, read slowly by a viewer or by nobody."""
    terminal_id = await host.new_terminal()
    client = await host.attach(terminal_id)
    await Screen(client).run("", time.monotonic() + PHASE_TIMEOUT_SECONDS)
    sampler = RssSampler(host.pids)
    node_pids = host.node_pids
    cpu_before = sum(cpu_seconds(pid) for pid in node_pids)
    await client.send(b"yes\r")
    if not viewer:
        await client.close()
    seen = 0
    ends = time.monotonic() + seconds
    while time.monotonic() < ends:
        if viewer:
            try:
                async with asyncio.timeout(SLOW_READ_SECONDS):
                    seen += len(await client.receive())
            except TimeoutError:
                pass
        await asyncio.sleep(SLOW_READ_SECONDS)
    node_cpu = (sum(cpu_seconds(pid) for pid in node_pids) - cpu_before) / seconds
    if viewer:
        await client.send(b"\x03")
        await client.close()
    await host.delete_terminal(terminal_id)
    reading = await sampler.stop("yes, slow viewer" if viewer else "yes, no viewer")
    reading.note = f"node CPU {node_cpu:.0%}, viewer read {seen / MIB:.1f} MiB"
    return reading


# -- the run ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "meets target" if ok else "MISSES target"


def report(args: argparse.Namespace, results: list[PathResult], rss: list[RssReading]) -> None:
    keystrokes = len(results[0].latencies_ms)
    print(f"\nkeystrokes: {keystrokes} per path, cat: {args.mebibytes} MiB, ", end="")
    print(f"yes flood: {args.flood_seconds:g} s")
    print(f"{'path':<36}{'p50 ms':>9}{'p99 ms':>9}{'MiB/s':>9}")
    for result in results:
        p50, p99 = result.percentile(50), result.percentile(99)
        print(f"{result.name:<36}{p50:>9.3f}{p99:>9.3f}{result.mib_per_second:>9.1f}")
    by_name = {r.name.split()[0]: r for r in results}
    corral, terminado = by_name["corral"], by_name["terminado"]
    p50_ratio = corral.percentile(50) / terminado.percentile(50)
    rate_ratio = corral.mib_per_second / terminado.mib_per_second
    print(f"\ncorral/terminado p50 latency: {p50_ratio:.2f} (target <= ", end="")
    print(f"{TARGET_P50_RATIO:g}): {verdict(p50_ratio <= TARGET_P50_RATIO)}")
    print(f"corral/terminado throughput:  {rate_ratio:.2f} (target >= ", end="")
    print(f"{TARGET_THROUGHPUT_RATIO:g}): {verdict(rate_ratio >= TARGET_THROUGHPUT_RATIO)}")
    print("\ncorral control plane + node daemon RSS, MiB:")
    print(f"{'while':<24}{'before':>8}{'peak':>8}{'after':>8}{'growth':>8}")
    for r in rss:
        ok = verdict(r.growth_mib <= TARGET_RSS_MIB)
        print(
            f"{r.label:<24}{r.before_mib:>8.1f}{r.peak_mib:>8.1f}{r.after_mib:>8.1f}"
            f"{r.growth_mib:>8.1f}  target <= {TARGET_RSS_MIB:g}: {ok}"
            + (f"; {r.note}" if r.note else "")
        )


async def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="corral-bench-terminal-") as tmp:
        root = Path(tmp)
        print(f"making a {args.mebibytes} MiB payload; starting corral and terminado", flush=True)
        payload = make_repo(root / "repo", args.mebibytes)
        size = payload.stat().st_size
        async with AsyncExitStack() as stack:
            host = await stack.enter_async_context(corral_host(root, root / "repo"))
            port = await stack.enter_async_context(terminado_server(root))
            os.sync()  # the payload's writeback must not run during the measurements
            sampler = RssSampler(host.pids)
            clients: list[tuple[str, TerminalClient, str]] = [
                ("raw pty (floor)", RawPty(), str(payload)),
                ("terminado", await TerminadoTerminal.open(port), str(payload)),
                ("corral (ws > control > node > pty)", await host.attach_new(), "payload.txt"),
            ]
            for _, client, _ in clients:
                stack.push_async_callback(client.close)
            results = [PathResult(name, Screen(client), path) for name, client, path in clients]
            print(f"typing {args.keystrokes} keystrokes into each path", flush=True)
            await echo_latency(results, args.keystrokes)
            for result in results:
                print(f"cat of {args.mebibytes} MiB through {result.name}", flush=True)
                result.mib_per_second = await throughput(result.screen, result.payload, size)
            rss = [await sampler.stop("latency and cat runs")]
            print(f"flooding corral terminals with yes for {args.flood_seconds:g} s", flush=True)
            rss += [await flood(host, args.flood_seconds, viewer) for viewer in (True, False)]
    report(args, results, rss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--keystrokes", type=int, default=1000, help="timed keystrokes per path")
    parser.add_argument("--mebibytes", type=int, default=50, help="size of the file to `cat`")
    parser.add_argument("--flood-seconds", type=float, default=10.0, help="each `yes` flood")
    args = parser.parse_args()
    if args.keystrokes < 100 or args.mebibytes < 1 or args.flood_seconds <= 0:
        parser.error("use at least 100 keystrokes, 1 MiB and a positive flood time")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
