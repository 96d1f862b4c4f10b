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
from tests.support.processes import corral_env, corral_server

START_TIMEOUT_SECONDS = 30.0


@contextmanager
def baseline_app() -> Iterator[str]:
    """bench/baseline_app.py on the free port it prints; yields its URL."""
    args = [sys.executable, "-m", "bench.baseline_app"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())  # listening already: no wait for it to start
        yield f"http://127.0.0.1:{port}"
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

    with baseline_app() as url, httpx.Client(base_url=url) as client:
        baseline = measure(client, "/api/v1/me", count)

    with tempfile.TemporaryDirectory() as tmp:
        env = corral_env(Path(tmp) / "home")
        with corral_server(Path(tmp) / "data", env, timeout=START_TIMEOUT_SECONDS) as server:
            assert server.link is not None
            token = server.link.split("token=")[1]
            with httpx.Client(base_url=f"{server.url}/api/v1") as client:
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
