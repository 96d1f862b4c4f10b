"""The reconcilers' loops wait between passes until woken or their period ends; cancelled in the
instant they are woken (an app shutting down while a node's step ends), they stop. With
`asyncio.wait_for` in Python 3.11 the loop went on, and the app's shutdown waited for ever."""

from __future__ import annotations

import asyncio

from corral.control.reconcilers import _woken_or_after


async def test_a_loop_cancelled_as_it_is_woken_stops() -> None:
    due = asyncio.Event()

    async def loop() -> None:
        while True:
            due.clear()
            await asyncio.sleep(0)  # a pass
            await _woken_or_after(due, 10)

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.05)
    due.set()
    task.cancel()
    done, _ = await asyncio.wait([task], timeout=2)
    assert done, "the loop went on after it was cancelled"


async def test_it_returns_when_woken_or_after_its_period() -> None:
    due = asyncio.Event()
    asyncio.get_running_loop().call_later(0.05, due.set)
    await asyncio.wait_for(_woken_or_after(due, 30), 5)
    due.clear()
    await asyncio.wait_for(_woken_or_after(due, 0.1), 5)  # not woken: its period ends it
    assert not due.is_set()
