"""`leases.hold` in a task cancelled while it lets go of its lease (waiting for its renewal to
unwind): the cancellation reaches the task. A loop holding leases must stop when its app shuts
down; one that swallowed the cancellation kept a shutting-down app waiting for ever."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from corral.control.app import create_state
from corral.control.bootstrap import prepare
from corral.control.services import leases
from corral.settings import load_settings

LEASE_SECONDS = 0.3  # renewed every 0.1 s


async def test_a_task_cancelled_while_letting_go_of_a_lease_stops(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = create_state(load_settings(data_dir=tmp_path))
    await prepare(state)
    real_claim = leases.claim
    renewing = asyncio.Event()
    calls = 0

    async def slow_renewal(*args: Any, **kwargs: Any) -> bool:
        """The first claim as usual; a renewal that takes a while, and a while to unwind when
        cancelled (a database connection cleaning up)."""
        nonlocal calls
        calls += 1
        if calls == 1:
            return await real_claim(*args, **kwargs)
        renewing.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            await asyncio.sleep(0.5)
            raise
        return True

    monkeypatch.setattr(leases, "claim", slow_renewal)
    let_go = asyncio.Event()

    async def loop_holding_leases() -> None:
        while True:  # as the reconcilers' loops do
            async with leases.hold(state.db, "work", "me", seconds=LEASE_SECONDS):
                await renewing.wait()
            let_go.set()  # not reached while the renewal unwinds: the test cancels then
            await asyncio.sleep(0.01)

    task = asyncio.create_task(loop_holding_leases())
    try:
        await asyncio.wait_for(renewing.wait(), 10)
        await asyncio.sleep(0.1)  # the body has ended; `hold` waits for the renewal to unwind
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=5)
        assert done, "the task went on after it was cancelled"
        assert task.cancelled()
        assert not let_go.is_set()
    finally:
        task.cancel()
        await asyncio.wait([task], timeout=5)
        await state.engine.dispose()
