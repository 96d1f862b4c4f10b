"""Keeping dev containers away from the node itself, with iptables rules in Docker's namespace.

Docker's own rules keep a container on one bridge network from those on another (each workspace
has a network of its own), but not from the machine: anything listening on the node (its PTY
host's socket aside, which is a file) answers a container through the bridge's gateway. And a
cloud machine's metadata service (169.254.169.254) would hand a container the node's user data.
So new connections from the workspaces' bridges (and Docker's default bridge, where image builds
run) to the node are refused, and so is link-local traffic forwarded from them. Replies to
connections the node opens, and traffic to the internet, pass.

The rules are checked (`iptables -C`) before they are inserted, so applying them is idempotent,
and re-applied when a workspace starts: a restarted dockerd rebuilds its chains.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Sequence

from corral.node.runtimes.base import RuntimeError_
from corral.protocol.messages import NodeIsolation

__all__ = ["Firewall"]

log = logging.getLogger("corral.runtimes.devcontainer")

_TIMEOUT_SECONDS = 20.0


class Firewall:
    """`interfaces`: iptables interface patterns (`crl-+`); `netns`: the path of the network
    namespace dockerd runs in, when it is not the node's own."""

    def __init__(self, interfaces: Sequence[str], *, netns: str | None = None) -> None:
        self.interfaces = list(interfaces)
        self.netns = netns
        self._iptables = shutil.which("iptables")

    def problem(self) -> str | None:
        if self._iptables is None:
            return "iptables is not installed, so workspaces could reach the node's services"
        if self.netns is not None and shutil.which("nsenter") is None:
            return "nsenter is not installed, so the rules cannot reach dockerd's namespace"
        return None

    def isolation(self, *, enabled: bool, loopback_proxies: Sequence[str]) -> NodeIsolation:
        """What the node's heartbeat says of dev containers' isolation; raises `RuntimeError_`
        if the firewall is wanted and cannot work here."""
        problems = []
        if enabled:
            problem = self.problem()
            if problem is not None:
                raise RuntimeError_(problem, reason="firewall_unavailable")
        else:
            problems.append("the firewall is off: workspaces can reach the node's services")
        problems += [
            f"{name} names a proxy on the node's loopback, which containers cannot reach"
            for name in loopback_proxies
        ]
        return NodeIsolation(
            sandbox="container",
            user="container_user",
            network="isolated" if enabled else "bridge",
            file_access="openat2",
            problems=problems,
        )

    def rules(self) -> list[tuple[str, list[str]]]:
        """(chain, rule) pairs, in the order they are applied."""
        found: list[tuple[str, list[str]]] = []
        for interface in self.interfaces:
            found.append(
                (
                    "INPUT",
                    ["-i", interface, "-m", "conntrack", "--ctstate", "NEW", "-j", "REJECT"],
                )
            )
            found.append(("DOCKER-USER", ["-i", interface, "-d", "169.254.0.0/16", "-j", "REJECT"]))
        return found

    async def apply(self) -> None:
        """Insert the rules that are missing. Raises `RuntimeError_` if one cannot be made."""
        problem = self.problem()
        if problem is not None:
            raise RuntimeError_(problem, reason="firewall_unavailable")
        for chain, rule in self.rules():
            if await self._iptables_ok("-C", chain, *rule):
                continue
            if not await self._iptables_ok("-I", chain, "1", *rule):
                raise RuntimeError_(
                    f"could not add the iptables rule `-I {chain} {' '.join(rule)}` that keeps "
                    "workspaces from the node",
                    reason="firewall_failed",
                )
            log.info("added the iptables rule %s %s", chain, " ".join(rule))

    async def _iptables_ok(self, *args: str) -> bool:
        assert self._iptables is not None
        argv = [self._iptables, "-w", "5", *args]
        if self.netns is not None:
            argv = ["nsenter", f"--net={self.netns}", *argv]
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            return await asyncio.wait_for(process.wait(), _TIMEOUT_SECONDS) == 0
        except TimeoutError:
            process.kill()
            await process.wait()
            return False
