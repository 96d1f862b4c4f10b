"""Terminals through the control plane's services and the node link, on a node in memory: made
with the project's variables, listed, deleted, and attached to as a stream of bytes."""

from __future__ import annotations

import asyncio

import pytest

from corral.control.services import terminals
from corral.errors import NotFound
from corral.protocol.messages import TerminalAttach, TerminalAttached, TerminalCreate
from tests.unit.control.conftest import Site


class _Viewer:
    """The control plane's side of one stream (the relay's part)."""

    def __init__(self) -> None:
        self.data = asyncio.Queue[bytes]()

    async def on_data(self, stream: int, data: bytes) -> None:
        await self.data.put(data)

    async def on_window(self, stream: int, granted: int) -> None:
        return None

    async def on_close(self, stream: int, reason: str) -> None:
        return None


async def test_a_terminal_is_made_listed_and_deleted_through_its_node(site: Site) -> None:
    registry, user = site.state.node_registry, site.owner.id
    async with site.state.db() as db:
        made = await terminals.create_terminal(db, registry, user, "ws", cols=120, rows=40)
        (create,) = site.node.sent("terminal.create")
        assert isinstance(create, TerminalCreate)
        assert create.env == {"APP_ENV": "test"}  # the project's variables, for this request only
        assert (made.workspace_id, made.cols, made.rows) == (site.workspace.id, 120, 40)
        assert [t.id for t in await terminals.list_terminals(db, registry, user, "ws")] == [made.id]
        await terminals.delete_terminal(db, registry, user, "ws", made.id)
        assert await terminals.list_terminals(db, registry, user, "ws") == []
        with pytest.raises(NotFound, match=f"no terminal {made.id}"):
            await terminals.delete_terminal(db, registry, user, "ws", made.id)


async def test_an_attached_terminal_streams_its_output(site: Site) -> None:
    async with site.state.db() as db:
        made = await terminals.create_terminal(
            db, site.state.node_registry, site.owner.id, "ws", cols=80, rows=24
        )
    link = site.state.node_registry.local(site.node.id)
    assert link is not None
    viewer = _Viewer()
    stream = link.open_stream(viewer)
    attach = TerminalAttach(
        workspace_id=site.workspace.id, terminal_id=made.id, stream=stream, window_bytes=65536
    )
    attached = await link.call("terminal.attach", attach, TerminalAttached)
    assert attached.offset == 0
    assert await asyncio.wait_for(viewer.data.get(), 5) == b"$ "
    await link.peer.send_stream(stream, b"ls\r")
    await link.close_stream(stream, "the viewer left")
    await site.node.received()
    assert site.node.stream_input == {stream: b"ls\r"}
