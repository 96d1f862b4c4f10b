"""Workspace runtimes as the control plane knows them: the names a project or a workspace may
ask for, and what each node offers (from its heartbeats).

A runtime is the node's business (`corral.node.runtimes`); the control plane only learns of a
node's runtimes from what it reports, and checks a name people give against Corral's own
runtimes and those its nodes report, so a typo is refused up front rather than left pending.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.models import Node
from corral.errors import InvalidInput
from corral.protocol.messages import RuntimeInfo, WorkspaceLimits
from corral.states import NodeState

__all__ = [
    "AUTO",
    "BUILTIN_RUNTIMES",
    "check_limits",
    "check_runtime",
    "node_runtimes",
    "runtime_names",
]

AUTO = "auto"
"""What a workspace's runtime is until placement picks one: devcontainer where the node has
it working (Docker), else host."""

BUILTIN_RUNTIMES = ("devcontainer", "host")
"""The runtimes Corral ships; nodes may report others (a plugin's, the test suite's `fake`)."""


def node_runtimes(node: Node) -> tuple[RuntimeInfo, ...]:
    """The runtimes the node reported in its last heartbeat, its default first. A node too old
    to report them runs `host` (and one that has not reported at all, nothing yet)."""
    if not node.capacity:
        return ()
    reported: list[dict[str, Any]] = node.capacity.get("runtimes") or []
    if not reported:
        isolation = node.capacity.get("isolation")
        try:
            return (RuntimeInfo(name="host", isolation=isolation or {}),)
        except ValidationError:
            return (RuntimeInfo(name="host"),)
    runtimes = []
    for entry in reported:
        try:
            runtimes.append(RuntimeInfo.model_validate(entry))
        except ValidationError:  # stored by an earlier version in another shape: skip it
            continue
    return tuple(runtimes)


async def runtime_names(db: AsyncSession) -> set[str]:
    """Corral's runtimes and every runtime a node reports."""
    known = set(BUILTIN_RUNTIMES)
    for node in await db.scalars(select(Node).where(Node.state != NodeState.DELETED)):
        known.update(runtime.name for runtime in node_runtimes(node))
    return known


async def check_runtime(db: AsyncSession, runtime: str | None, *, field: str) -> str | None:
    """The runtime to store for what was asked: None for `auto` (or nothing), else a name
    Corral or one of its nodes knows; `InvalidInput` naming the known ones otherwise."""
    if runtime is None or runtime == AUTO:
        return None
    known = await runtime_names(db)
    if runtime not in known:
        raise InvalidInput(
            f"there is no runtime {runtime!r}; choose {AUTO} or one of: {', '.join(sorted(known))}",
            reason="unknown_runtime",
            details=[{"field": field}],
        )
    return runtime


def check_limits(
    *, cpus: float | None, memory_bytes: int | None, pids: int | None, prefix: str = "body"
) -> WorkspaceLimits:
    """The limits as the protocol carries them, or `InvalidInput` naming the field that is out
    of range (for callers other than the API, whose schemas apply the same bounds)."""
    try:
        return WorkspaceLimits(cpus=cpus, memory_bytes=memory_bytes, pids=pids)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = f"{prefix}.{first['loc'][0]}"
        raise InvalidInput(
            f"{field.rpartition('.')[2]}: {first['msg']}",
            details=[{"field": field, "message": first["msg"]}],
        ) from None
