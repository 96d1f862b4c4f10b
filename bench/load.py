"""Interactive terminals under load: Corral beside terminado, in one run.

    .venv/bin/python -m bench.load [--flooders N] [--seconds S] [--interval-ms MS] [--rounds R]

The same load on both (bench/terminal_paths.py: a real `corral up`; Jupyter's terminado in one
process): N terminals flood `yes`, each drained by its own reader as fast as it comes, while a
quiet terminal types one key every MS milliseconds into `cat` and times each echo. Measured:

- idle echo p50 (the quiet terminal alone, before the flood);
- loaded echo p50 and p99 (during the flood);
- delivered: the flooders' output reaching their readers, in MiB/s;
- Corral only: the API's `GET /workspaces` p99, idle and loaded (one request every 100 ms,
  timed by a process of its own, bench/api_poller.py: this one's loop is busy with the floods).

The two take turns for R rounds (3 by default), so a change in the shared machine's load hits
both alike; each figure pools the samples of all rounds.

Targets (issue 16): loaded echo p50 <= 1.5x terminado's and p99 <= 2x, delivered >= 1.0x,
API p99 <= 100 ms under the load. Printed with each ratio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.sessions import make_repo

from bench.terminal_paths import (
    CorralHost,
    Screen,
    TerminadoTerminal,
    TerminalClient,
    corral_host,
    terminado_server,
)

MIB = 1024 * 1024
SETTLE_SECONDS = 2.0
PHASE_TIMEOUT_SECONDS = 120.0
IDLE_KEYS = 100
LINE_CHARS = 60
API_INTERVAL_SECONDS = 0.1
TARGETS = {"p50": 1.5, "p99": 2.0, "delivered": 1.0, "api_p99_ms": 100.0}


@dataclass
class LoadResult:
    idle_echo_ms: list[float] = field(default_factory=list)
    loaded_echo_ms: list[float] = field(default_factory=list)
    delivered_bytes: int = 0
    delivered_seconds: float = 0.0
    api_idle_ms: list[float] = field(default_factory=list)
    api_loaded_ms: list[float] = field(default_factory=list)

    def add(self, other: LoadResult) -> None:
        """Pool another round's samples into these."""
        self.idle_echo_ms += other.idle_echo_ms
        self.loaded_echo_ms += other.loaded_echo_ms
        self.delivered_bytes += other.delivered_bytes
        self.delivered_seconds += other.delivered_seconds
        self.api_idle_ms += other.api_idle_ms
        self.api_loaded_ms += other.api_loaded_ms

    @property
    def mib_per_second(self) -> float:
        return self.delivered_bytes / MIB / self.delivered_seconds if self.delivered_seconds else 0


def percentile(samples: list[float], q: int) -> float:
    if not samples:
        return float("nan")
    return statistics.quantiles(samples, n=100, method="inclusive")[q - 1]


async def _start_cat(screen: Screen, deadline: float) -> None:
    await screen.run("stty sane", deadline)
    await screen.client.send(b"printf '%s_%s\\n' CAT READY; cat\r")
    await screen.expect(b"CAT_READY\r\n", deadline)


async def _type(
    screen: Screen, *, keys: int | None, seconds: float | None, interval: float
) -> list[float]:
    """Type into `cat` one key every `interval`, timing each echo; `keys` of them, or for
    `seconds`. A fresh line every LINE_CHARS keys keeps `cat`'s line short."""
    samples: list[float] = []
    deadline = time.monotonic() + PHASE_TIMEOUT_SECONDS
    ends = time.monotonic() + seconds if seconds is not None else None
    typed = 0
    line = bytearray()
    while (keys is None or typed < keys) and (ends is None or time.monotonic() < ends):
        char = bytes([ord("a") + typed % 26])
        started = time.perf_counter()
        await screen.client.send(char)
        await screen.expect(char, deadline)
        samples.append((time.perf_counter() - started) * 1000)
        typed += 1
        line += char
        if len(line) == LINE_CHARS:
            await _end_line(screen, line, deadline)
        await asyncio.sleep(max(0.0, interval - (time.perf_counter() - started)))
    if line:
        await _end_line(screen, line, deadline)
    return samples


async def _end_line(screen: Screen, line: bytearray, deadline: float) -> None:
    """Enter, and wait for `cat` to print the line: its characters must not be taken for the
    echoes of later keys."""
    await screen.client.send(b"\r")
    await screen.expect(bytes(line) + b"\r\n", deadline)
    line.clear()


async def _drain(client: TerminalClient, counted: list[int]) -> None:
    """Read a flooding terminal as fast as it comes, counting what arrives."""
    while True:
        counted[0] += len(await client.receive())


class ApiPoller:
    """`GET /workspaces` timed by bench/api_poller.py, a process of its own, so that this
    process's loop, busy with the floods, is not in the figure."""

    def __init__(self, host: CorralHost) -> None:
        self.url = str(host.api.base_url.join("workspaces"))
        self.token = host.token
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.api_poller",
            self.url,
            self.token,
            str(API_INTERVAL_SECONDS),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )

    async def stop(self) -> list[float]:
        process = self._process
        assert process is not None and process.stdin is not None
        process.stdin.close()
        stdout, _ = await asyncio.wait_for(process.communicate(), PHASE_TIMEOUT_SECONDS)
        if process.returncode != 0:
            raise SystemExit(f"the API poller failed (exit code {process.returncode})")
        samples: list[float] = json.loads(stdout)
        return samples


async def measure(
    open_terminal: Callable[[], Awaitable[TerminalClient]],
    *,
    flooders: int,
    seconds: float,
    interval: float,
    api: ApiPoller | None,
) -> LoadResult:
    result = LoadResult()
    deadline = time.monotonic() + PHASE_TIMEOUT_SECONDS
    quiet = Screen(await open_terminal())
    await quiet.run("", deadline)
    await _start_cat(quiet, deadline)
    if api is not None:
        await api.start()
    result.idle_echo_ms = await _type(quiet, keys=IDLE_KEYS, seconds=None, interval=interval)
    if api is not None:
        result.api_idle_ms = await api.stop()
    clients = [await open_terminal() for _ in range(flooders)]
    counts = [[0] for _ in clients]
    screens = [Screen(client) for client in clients]
    for screen in screens:
        await screen.run("", deadline)
    readers = [asyncio.create_task(_drain(c, n)) for c, n in zip(clients, counts, strict=True)]
    try:
        for client in clients:
            await client.send(b"yes\r")
        await asyncio.sleep(SETTLE_SECONDS)
        before, started = sum(n[0] for n in counts), time.perf_counter()
        if api is not None:
            await api.start()
        result.loaded_echo_ms = await _type(quiet, keys=None, seconds=seconds, interval=interval)
        result.delivered_seconds = time.perf_counter() - started
        result.delivered_bytes = sum(n[0] for n in counts) - before
        if api is not None:
            result.api_loaded_ms = await api.stop()
    finally:
        for client in clients:
            with suppress(Exception):
                await client.send(b"\x03")
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
        for client in [*clients, quiet.client]:
            with suppress(Exception):
                await client.close()
    return result


async def run(flooders: int, seconds: float, interval: float, rounds: int) -> dict[str, LoadResult]:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch)
        make_repo(root / "repo", {"README.md": "load\n"})
        results = {"terminado": LoadResult(), "corral": LoadResult()}
        async with AsyncExitStack() as stack:
            port = await stack.enter_async_context(terminado_server(root))
            host: CorralHost = await stack.enter_async_context(
                corral_host(root / "corral", root / "repo")
            )
            for _ in range(rounds):
                terminado = await measure(
                    lambda: TerminadoTerminal.open(port),
                    flooders=flooders,
                    seconds=seconds,
                    interval=interval,
                    api=None,
                )
                results["terminado"].add(terminado)
                corral = await measure(
                    host.attach_new,
                    flooders=flooders,
                    seconds=seconds,
                    interval=interval,
                    api=ApiPoller(host),
                )
                results["corral"].add(corral)
                await host.delete_terminals()  # the workspace's terminal limit holds a round
        return results


def report(results: dict[str, LoadResult]) -> None:
    terminado, corral = results["terminado"], results["corral"]
    print(
        f"{'':10} {'idle p50':>9} {'loaded p50':>11} {'loaded p99':>11} {'MiB/s':>7} "
        f"{'API p99 idle/loaded':>20}"
    )
    for name, found in results.items():
        idle, loaded = percentile(found.api_idle_ms, 99), percentile(found.api_loaded_ms, 99)
        api = f"{idle:6.1f} / {loaded:6.1f} ms" if found.api_loaded_ms else "-"
        print(
            f"{name:10} {statistics.median(found.idle_echo_ms):7.1f}ms "
            f"{statistics.median(found.loaded_echo_ms):9.1f}ms "
            f"{percentile(found.loaded_echo_ms, 99):9.1f}ms {found.mib_per_second:7.1f} {api:>20}"
        )
    p50 = statistics.median(corral.loaded_echo_ms) / statistics.median(terminado.loaded_echo_ms)
    p99 = percentile(corral.loaded_echo_ms, 99) / percentile(terminado.loaded_echo_ms, 99)
    delivered = corral.mib_per_second / terminado.mib_per_second
    api_p99 = percentile(corral.api_loaded_ms, 99)
    print(f"loaded echo p50: {p50:.2f}x terminado's (target <= {TARGETS['p50']}x)")
    print(f"loaded echo p99: {p99:.2f}x terminado's (target <= {TARGETS['p99']}x)")
    print(f"delivered:       {delivered:.2f}x terminado's (target >= {TARGETS['delivered']}x)")
    print(f"API p99 loaded:  {api_p99:.0f} ms (target <= {TARGETS['api_p99_ms']:.0f} ms)")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--flooders", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--interval-ms", type=float, default=50.0)
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    results = asyncio.run(
        run(options.flooders, options.seconds, options.interval_ms / 1000, options.rounds)
    )
    report(results)


if __name__ == "__main__":
    main()
