"""The node's own memory: the daemon and its PTY host, idle and per terminal.

    .venv/bin/python -m bench.node_memory [--terminals N]

A real `corral up` (bench/terminal_paths.py) with one running workspace. Measured from /proc,
in MiB of RSS, of the node daemon and the PTY host only (not the programs in the terminals):

- idle: the daemon linked, before any terminal (no PTY host yet);
- idle with the PTY host: one terminal opened and deleted, the host left running;
- per terminal: N more terminals, each with an idle shell, and the growth divided by N;
- idle again: every terminal deleted, once the daemon has stopped the PTY host that held none
  (`terminals.pty_host_idle_seconds`, about a minute). The target is for this idle node.

Targets (issue 16): <= 60 MiB idle (daemon and PTY host) and <= 1 MiB per extra terminal;
the issue measured 127 MiB idle.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from tests.support.sessions import make_repo

from bench.terminal import rss_mib
from bench.terminal_paths import CorralHost, child_pids, corral_host

TARGET_IDLE_MIB = 60.0
TARGET_PER_TERMINAL_MIB = 1.0
BASELINE_IDLE_MIB = 127.0
SETTLE_SECONDS = 2.0
RETIRE_WAIT_SECONDS = 120.0


def node_processes(host: CorralHost) -> dict[str, int]:
    """The node daemon and, once started, its PTY host, by role."""
    found = {"daemon": host.node_pid}
    for pid in child_pids(host.node_pid):
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            if b"pty-host" in cmdline.read():
                found["pty host"] = pid
    return found


def node_rss(host: CorralHost) -> dict[str, float]:
    return {role: rss_mib((pid,)) for role, pid in node_processes(host).items()}


async def run(terminals: int) -> None:
    with tempfile.TemporaryDirectory(prefix="corral-bench-memory-") as scratch:
        root = Path(scratch)
        make_repo(root / "repo", {"README.md": "memory\n"})
        async with corral_host(root / "corral", root / "repo") as host:
            await asyncio.sleep(SETTLE_SECONDS)
            idle = node_rss(host)
            await host.delete_terminal(await host.new_terminal())
            await asyncio.sleep(SETTLE_SECONDS)
            hosted = node_rss(host)
            opened = [await host.new_terminal() for _ in range(terminals)]
            await asyncio.sleep(SETTLE_SECONDS)
            loaded = node_rss(host)
            for terminal in opened:
                await host.delete_terminal(terminal)
            started = time.monotonic()
            retired = await wait_for_retired_host(host)
            retired_after = time.monotonic() - started
    per_terminal = (sum(loaded.values()) - sum(hosted.values())) / terminals
    print(f"{'':40} {'daemon':>8} {'PTY host':>9} {'total':>7}")
    for name, found in (
        ("idle, no terminal yet", idle),
        ("one terminal opened and deleted", hosted),
        (f"with {terminals} terminals", loaded),
        (f"idle, PTY host stopped after {retired_after:.0f} s", retired),
    ):
        host_mib = found.get("pty host")
        host_text = f"{host_mib:9.1f}" if host_mib is not None else f"{'-':>9}"
        print(f"{name:40} {found['daemon']:8.1f} {host_text} {sum(found.values()):7.1f}")
    idle_total = sum(retired.values())
    verdict = "meets target" if idle_total <= TARGET_IDLE_MIB else "MISSES target"
    print(
        f"idle node (no terminal; the PTY host stopped): {idle_total:.1f} MiB, "
        f"{idle_total / BASELINE_IDLE_MIB:.2f}x the issue's {BASELINE_IDLE_MIB:g} MiB "
        f"(target <= {TARGET_IDLE_MIB:g} MiB): {verdict}"
    )
    hosted_total = sum(hosted.values())
    print(
        f"with the PTY host running, no terminal: {hosted_total:.1f} MiB, "
        f"{hosted_total / BASELINE_IDLE_MIB:.2f}x the issue's {BASELINE_IDLE_MIB:g} MiB"
    )
    verdict = "meets target" if per_terminal <= TARGET_PER_TERMINAL_MIB else "MISSES target"
    print(
        f"per extra terminal: {per_terminal:.2f} MiB "
        f"(target <= {TARGET_PER_TERMINAL_MIB:g} MiB): {verdict}"
    )


async def wait_for_retired_host(host: CorralHost) -> dict[str, float]:
    """The node's memory once the daemon stopped its idle PTY host: after the node's
    `terminals.pty_host_idle_seconds` (60 s) and up to one heartbeat (15 s) more."""
    deadline = time.monotonic() + RETIRE_WAIT_SECONDS
    while time.monotonic() < deadline:
        if "pty host" not in node_processes(host):
            await asyncio.sleep(SETTLE_SECONDS)
            return node_rss(host)
        await asyncio.sleep(1.0)
    raise SystemExit(f"the idle PTY host was still running after {RETIRE_WAIT_SECONDS:g} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--terminals", type=int, default=10)
    options = parser.parse_args()
    asyncio.run(run(options.terminals))


if __name__ == "__main__":
    main()
