"""A host "on the internet" for tests: a network namespace the test makes, joined to this
machine by a veth pair on a 198.18.0.0/15 (benchmarking) address.

A workspace's sandbox reaches the internet through slirp4netns, as ordinary sockets of the
machine, but never the machine's 127.0.0.1. A server that a sandboxed agent must reach (the
scripted model server) therefore listens here, and the traffic takes the path real traffic
takes. Needs root (CI runs as root), as making namespaces does.

A namespace can also sit *behind* an outside host (`inner_namespace`): its only link leads to
the outside host, which is its default route, so everything in it reaches the outside host and
nothing else (the outside host does not forward). The test dockerd runs in one
(tests/support/docker.py), so containers reach the model server as they would the internet,
and the machine's own firewall is never touched.

The 198.18.0.0/15 space is split so that no two uses meet:

- 198.18.0.0/16: links between this machine and outside hosts, a /30 each at a place drawn from
  the PID, so that test processes running side by side rarely pick the same one.
- 198.19.0.0/24: links between an outside host and the namespaces behind it, a /30 each. These
  live only in those two namespaces, so the same addresses serve every outside host.
- 198.19.1.0/24 and up: free for addresses inside a namespace behind an outside host (the test
  dockerd's bridges). Never routed outside it, so every such namespace may use them.
"""

from __future__ import annotations

import ctypes
import itertools
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

__all__ = ["InnerNamespace", "OutsideHost", "inner_namespace", "outside_host"]

_CLONE_NEWNET = 0x40000000
_IP_TIMEOUT_SECONDS = 10.0
_counter = itertools.count()
_inner_links = itertools.count()
_INNER_LINK_SLOTS = 64  # the /30s in 198.19.0.0/24


@dataclass(frozen=True)
class OutsideHost:
    namespace: str
    address: str
    """The host's address, as the machine (and a sandbox) reaches it."""

    def listen(self, port: int = 0) -> socket.socket:
        """A listening TCP socket inside the namespace, on `address`."""
        made: list[socket.socket | BaseException] = []

        def inside() -> None:
            # setns changes only this thread's namespace; the socket keeps it after the
            # thread ends.
            try:
                fd = os.open(f"/run/netns/{self.namespace}", os.O_RDONLY)
                try:
                    if ctypes.CDLL(None, use_errno=True).setns(fd, _CLONE_NEWNET) != 0:
                        raise OSError(ctypes.get_errno(), "setns")
                finally:
                    os.close(fd)
                server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                server.bind((self.address, port))
                server.listen(64)
                made.append(server)
            except BaseException as exc:
                made.append(exc)

        thread = threading.Thread(target=inside)
        thread.start()
        thread.join(timeout=_IP_TIMEOUT_SECONDS)
        result = made[0]
        if isinstance(result, BaseException):
            raise result
        return result


@dataclass(frozen=True)
class InnerNamespace:
    """A namespace behind an outside host (see the module's docstring)."""

    name: str
    address: str
    """Its address on the link to the outside host: what the outside host reaches it at."""
    gateway: str
    """The outside host's address on that link, the namespace's default route."""

    @property
    def path(self) -> str:
        """The namespace's file, for `nsenter --net=PATH` and `setns`."""
        return f"/run/netns/{self.name}"


def _ip(*args: str, namespace: str | None = None) -> None:
    prefix = ["-n", namespace] if namespace else []
    subprocess.run(
        ["ip", *prefix, *args], check=True, capture_output=True, timeout=_IP_TIMEOUT_SECONDS
    )


def _tag() -> str:
    """A short name part no other live namespace or link of this process has; short, because an
    interface's name is at most 15 characters."""
    return f"{os.getpid() % 100000}x{next(_counter)}"


@contextmanager
def outside_host() -> Iterator[OutsideHost]:
    """Make the namespace and its link, and remove both afterwards."""
    assert os.geteuid() == 0, "making a network namespace needs root (the suite runs as root)"
    tag = _tag()
    namespace, near, far = f"corral-{tag}", f"crl{tag}a", f"crl{tag}b"
    subnet = (os.getpid() * 7 + next(_counter)) % 8192  # a /29 of 198.18.0.0/16
    base = f"198.18.{subnet // 32}"
    first = (subnet % 32) * 8
    near_address, far_address = f"{base}.{first + 1}", f"{base}.{first + 2}"
    _ip("netns", "add", namespace)
    try:
        _ip("link", "add", near, "type", "veth", "peer", "name", far)
        _ip("link", "set", far, "netns", namespace)
        _ip("addr", "add", f"{near_address}/30", "dev", near)
        _ip("link", "set", near, "up")
        _ip("addr", "add", f"{far_address}/30", "dev", far, namespace=namespace)
        _ip("link", "set", far, "up", namespace=namespace)
        _ip("link", "set", "lo", "up", namespace=namespace)
        yield OutsideHost(namespace=namespace, address=far_address)
    finally:
        subprocess.run(["ip", "link", "del", near], capture_output=True, timeout=10, check=False)
        _ip("netns", "del", namespace)


@contextmanager
def inner_namespace(host: OutsideHost) -> Iterator[InnerNamespace]:
    """Make a namespace whose one link (and default route) leads to `host`, and remove it
    afterwards. The pair is made inside the two namespaces, so no name is taken on the machine.
    """
    assert os.geteuid() == 0, "making a network namespace needs root (the suite runs as root)"
    tag = _tag()
    name, outer_end, inner_end = f"corral-{tag}", f"in{tag}", "uplink0"
    first = (next(_inner_links) % _INNER_LINK_SLOTS) * 4
    gateway, address = f"198.19.0.{first + 1}", f"198.19.0.{first + 2}"
    _ip("netns", "add", name)
    try:
        pair = ("type", "veth", "peer", "name", inner_end, "netns", name)
        _ip("link", "add", outer_end, *pair, namespace=host.namespace)
        _ip("addr", "add", f"{gateway}/30", "dev", outer_end, namespace=host.namespace)
        _ip("link", "set", outer_end, "up", namespace=host.namespace)
        _ip("addr", "add", f"{address}/30", "dev", inner_end, namespace=name)
        _ip("link", "set", inner_end, "up", namespace=name)
        _ip("link", "set", "lo", "up", namespace=name)
        _ip("route", "add", "default", "via", gateway, namespace=name)
        yield InnerNamespace(name=name, address=address, gateway=gateway)
    finally:
        # Deleting one end deletes the pair, even while a process still holds the namespace.
        subprocess.run(
            ["ip", "-n", host.namespace, "link", "del", outer_end],
            capture_output=True,
            timeout=_IP_TIMEOUT_SECONDS,
            check=False,
        )
        _ip("netns", "del", name)
