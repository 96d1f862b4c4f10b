"""Times an API request from a process of its own, for bench/load.py.

    .venv/bin/python -m bench.api_poller URL TOKEN INTERVAL_SECONDS

It sends `GET URL` with the token every INTERVAL_SECONDS until its standard input closes,
then prints the times in milliseconds as a JSON list. A process of its own because the load
benchmark's own loop is busy reading twenty floods: a request timed there waits for that loop
as well as for the server, and the figure is meant to be the server's.
"""

from __future__ import annotations

import json
import sys
import threading
import time

import httpx


def main() -> None:
    url, token, interval = sys.argv[1], sys.argv[2], float(sys.argv[3])
    stop = threading.Event()

    def stop_at_end_of_input() -> None:
        sys.stdin.read()
        stop.set()

    threading.Thread(target=stop_at_end_of_input, daemon=True).start()
    samples: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30.0, trust_env=False, headers=headers) as client:
        while not stop.is_set():
            started = time.perf_counter()
            client.get(url).raise_for_status()
            samples.append((time.perf_counter() - started) * 1000)
            stop.wait(interval)
    print(json.dumps(samples))


if __name__ == "__main__":
    main()
