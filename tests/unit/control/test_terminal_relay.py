"""The terminal relay's flow control on one node link: however many terminals flood, the output
the node may have in flight on the link stays near one budget, so a quiet terminal's echo does
not queue behind megabytes of the others' output (issue 16's loaded-echo figure)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from corral.control.relay import TerminalRelay
from corral.control.services import terminals
from tests.unit.control.conftest import Site

BUDGET = 64 * 1024
FLOOR = 4 * 1024


@pytest.fixture
def setting_overrides() -> dict[str, Any]:
    return {"nodes": {"terminal_link_window_bytes": BUDGET, "terminal_min_window_bytes": FLOOR}}


class _ViewerSocket:
    """The viewer's WebSocket as the relay uses it: what it was sent, and a way to leave."""

    def __init__(self) -> None:
        self.received = 0
        self.got = asyncio.Event()
        self._incoming: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def send_text(self, text: str) -> None:
        return None

    async def send_bytes(self, data: bytes) -> None:
        self.received += len(data)
        self.got.set()

    async def receive(self) -> dict[str, Any]:
        return await self._incoming.get()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None

    def leave(self) -> None:
        self._incoming.put_nowait({"type": "websocket.disconnect"})


@contextlib.asynccontextmanager
async def _viewers(site: Site, count: int) -> AsyncIterator[list[tuple[int, _ViewerSocket]]]:
    """`count` terminals, each with a viewer attached through a relay: (stream, socket) pairs."""
    registry = site.state.node_registry
    link = registry.local(site.node.id)
    assert link is not None
    attached: list[tuple[int, _ViewerSocket]] = []
    runs: list[asyncio.Task[bool]] = []
    try:
        for _ in range(count):
            async with site.state.db() as db:
                made = await terminals.create_terminal(
                    db, registry, site.owner.id, "ws", cols=80, rows=24
                )
            socket = _ViewerSocket()
            relay = TerminalRelay(
                socket,  # type: ignore[arg-type]  # the part of a WebSocket the relay uses
                registry,
                node_id=site.node.id,
                workspace_id=site.workspace.id,
                terminal_id=made.id,
                relink_grace_seconds=1.0,
            )
            runs.append(asyncio.create_task(relay.run()))
            await asyncio.wait_for(socket.got.wait(), 5)  # the terminal's prompt arrived
            attached.append((relay._stream, socket))
            assert link.stream_window() >= FLOOR
        yield attached
    finally:
        for _, socket in attached:
            socket.leave()
        await asyncio.wait_for(asyncio.gather(*runs, return_exceptions=True), 5)


async def _settle(site: Site, sockets: list[_ViewerSocket], expected: int) -> None:
    """Until the viewers got `expected` bytes in all and the node took every grant."""
    for _ in range(500):
        if sum(s.received for s in sockets) >= expected:
            break
        await asyncio.sleep(0.01)
    await site.node.received()


async def test_one_terminal_alone_may_use_the_whole_budget(site: Site) -> None:
    async with _viewers(site, 1) as attached:
        ((stream, _),) = attached
        assert site.node.stream_credit[stream] == BUDGET - len(b"$ ")


async def test_flooding_terminals_share_the_links_budget(site: Site) -> None:
    count = 24  # past BUDGET // FLOOR: each then holds the floor
    async with _viewers(site, count) as attached:
        streams = [stream for stream, _ in attached]
        sockets = [socket for _, socket in attached]
        # Every terminal floods, round after round, as fast as its credit lets it.
        for _ in range(3):
            sent = sum([await site.node.flood(stream) for stream in streams])
            assert sent > 0
            await _settle(site, sockets, sum(s.received for s in sockets) + sent)
        in_flight = sum(site.node.stream_credit[stream] for stream in streams)
        # The first terminals attached when the link was quiet and got a larger window; once
        # the others opened, their grants stopped at the share.
        assert in_flight <= count * FLOOR
        assert all(site.node.stream_credit[stream] <= FLOOR for stream in streams)
        # Nobody is starved: each stream may still send.
        assert all(site.node.stream_credit[stream] > 0 for stream in streams)


async def test_a_terminal_gets_the_larger_share_back_when_the_others_leave(site: Site) -> None:
    async with _viewers(site, 8) as attached:
        (stream, socket), others = attached[0], attached[1:]
        for _, other in others:
            other.leave()
        for _ in range(200):  # the relays detach their streams from the link
            link = site.state.node_registry.local(site.node.id)
            if link is not None and link.stream_window() == BUDGET:
                break
            await asyncio.sleep(0.01)
        for _ in range(3):
            sent = await site.node.flood(stream)
            await _settle(site, [socket], socket.received + sent)
        assert site.node.stream_credit[stream] > BUDGET // 2
