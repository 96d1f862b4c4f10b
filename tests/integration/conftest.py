"""Fixtures of the API tests that need nodes: nodes in memory, linked to the app under test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from fastapi import FastAPI

from corral.control.services import auth
from corral.control.state import AppState
from tests.support.memnode import MemoryNode


class Fleet:
    """Nodes joined by the owner and linked to the app (its placement loop sees them at once);
    all unlinked when the test ends."""

    def __init__(self, state: AppState) -> None:
        self.state = state
        self.nodes: list[MemoryNode] = []

    async def join(self, name: str, **reports: Any) -> MemoryNode:
        """A node that links and reports `reports` (see `MemoryNode.join`) in its heartbeats."""
        async with self.state.db() as db:
            owner = await auth.get_owner(db)
        node = await MemoryNode.join(self.state, owner, name, **reports)
        self.nodes.append(node)
        return node

    async def close(self) -> None:
        for node in self.nodes:
            await node.close()


@pytest.fixture
async def fleet(app: FastAPI) -> AsyncIterator[Fleet]:
    nodes = Fleet(app.state.corral)
    try:
        yield nodes
    finally:
        await nodes.close()
