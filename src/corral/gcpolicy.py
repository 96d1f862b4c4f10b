"""Garbage collection for Corral's long-running processes: the control plane and the node daemon.

CPython's cyclic collector runs after every 700 net allocations, and its older generations walk
every object the process holds. Both processes hold a large heap that lives as long as they do
(the modules of FastAPI, SQLAlchemy and pydantic, and their schemas), and both parse session
events in bursts of tens of thousands of objects, so collections ran again and again over that
heap: about a third of the control plane's CPU on a flood of events (bench/events.py, one
session: 30 µs per event before, 20 µs after).

So once a process has started, what it holds then is frozen out of collection, and the youngest
generation is collected after `GC_THRESHOLDS[0]` allocations instead of 700. Objects without
reference cycles are freed at once, as always; only cycles wait a little longer.
"""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLDS", "settle_heap"]

GC_THRESHOLDS = (100_000, 50, 100)
"""Allocations before the youngest generation is collected, and collections of each generation
before the next older one is."""


def settle_heap() -> None:
    """Call once start-up is done: what exists now stays for the process's life."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
