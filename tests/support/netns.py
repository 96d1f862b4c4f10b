"""A host "on the internet" for tests: a network namespace the test makes, joined to this
machine by a veth pair on a 198.18.0.0/15 (benchmarking) address.

A workspace's sandbox reaches the internet through slirp4netns, as ordinary sockets of the
machine, but never the machine's 127.0.0.1. A server that a sandboxed agent must reach (the
scripted model server) therefore listens here, and the traffic takes the path real traffic
takes. Needs root (CI runs as root), as making namespaces does.
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

__all__ = ["OutsideHost", "outside_host"]

_CLONE_NEWNET = 0x40000000
_IP_TIMEOUT_SECONDS = 10.0
_counter = itertools.count()


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


def _ip(*args: str, namespace: str | None = None) -> None:
    prefix = ["ip", "netns", "exec", namespace] if namespace else []
    subprocess.run(
        [*prefix, "ip", *args], check=True, capture_output=True, timeout=_IP_TIMEOUT_SECONDS
    )


@contextmanager
def outside_host() -> Iterator[OutsideHost]:
    """Make the namespace and its link, and remove both afterwards."""
    assert os.geteuid() == 0, "making a network namespace needs root (the suite runs as root)"
    tag = f"{os.getpid() % 100000}x{next(_counter)}"
    namespace, near, far = f"corral-{tag}", f"crl{tag}a", f"crl{tag}b"
    subnet = (os.getpid() * 7 + next(_counter)) % 16384
    base = f"198.{18 + subnet // 8192}.{(subnet // 32) % 256}"
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
