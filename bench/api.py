"""API latency: `GET /api/v1/me` and `GET /api/v1/projects` on a real `corral serve` (SQLite),
against a bare Starlette app on the same uvicorn (bench/baseline_app.py), in one run.

    .venv/bin/python -m bench.api [--requests N]

Prints p50 and p99 per endpoint and the ratio of Corral's p50 to the baseline's.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from tests.support.net import free_port

START_TIMEOUT_SECONDS = 30.0


@contextmanager
def process(args: list[str], port: int) -> Iterator[subprocess.Popen[str]]:
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1.0)
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        else:
            raise RuntimeError(f"{args[0]} did not start")
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def measure(client: httpx.Client, path: str, count: int) -> list[float]:
    for _ in range(min(50, count)):  # warm-up
        client.get(path).raise_for_status()
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        client.get(path).raise_for_status()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def percentile(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    count = parser.parse_args().requests
    corral = Path(sys.executable).with_name("corral")

    base_port = free_port()
    baseline_app = [sys.executable, "-m", "bench.baseline_app", str(base_port)]
    with (
        process(baseline_app, base_port),
        httpx.Client(base_url=f"http://127.0.0.1:{base_port}") as client,
    ):
        baseline = measure(client, "/api/v1/me", count)

    port = free_port()
    with tempfile.TemporaryDirectory() as data_dir:
        serve = [str(corral), "serve", "--data-dir", data_dir, "--port", str(port)]
        with process(serve, port) as proc:
            assert proc.stdout is not None
            link = next(line.strip() for line in proc.stdout if "token=" in line)
            token = link.split("token=")[1]
            with httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1") as client:
                signed_in = client.post("/auth/exchange", json={"token": token}).json()
                client.headers["Authorization"] = f"Bearer {signed_in['token']['token']}"
                me = measure(client, "/me", count)
                projects = measure(client, "/projects", count)

    base_p50 = percentile(baseline, 50)
    print(f"requests per endpoint: {count}")
    print(f"{'endpoint':<28}{'p50 ms':>10}{'p99 ms':>10}{'p50 ratio':>12}")
    for name, samples in (
        ("baseline starlette /me", baseline),
        ("corral GET /me", me),
        ("corral GET /projects", projects),
    ):
        p50, p99 = percentile(samples, 50), percentile(samples, 99)
        print(f"{name:<28}{p50:>10.2f}{p99:>10.2f}{p50 / base_p50:>12.2f}")


if __name__ == "__main__":
    main()
