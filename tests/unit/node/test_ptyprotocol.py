"""The PTY host's protocol: one method set, which the host serves in full and nothing else."""

from __future__ import annotations

import pytest

from corral.node.ptyhost import PtyHost
from corral.node.ptyprotocol import PTY_METHODS
from corral.node.settings import TerminalSettings
from corral.protocol.messages import METHODS


async def test_the_host_serves_exactly_the_pty_methods() -> None:
    host = PtyHost(TerminalSettings())
    handlers = host._handlers(lambda: pytest.fail("no request is served"))
    assert set(handlers) == set(PTY_METHODS)


def test_the_node_link_does_not_carry_the_pty_methods() -> None:
    assert not [method for method in METHODS if method.startswith("pty.")]
    shared = {method for method in PTY_METHODS if not method.startswith("pty.")}
    assert {method: METHODS[method] for method in shared} == {
        method: PTY_METHODS[method] for method in shared
    }
