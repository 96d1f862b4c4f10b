"""Ending child processes: a child started in its own session is ended with its whole group.

git, shells and agents start helpers (ssh, git-remote-https, language servers) that a plain
`kill` of the child would leave running.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

__all__ = ["kill_process_group"]


async def kill_process_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the process group led by `process` (started with start_new_session=True) and reap
    the leader. The group is killed even when its leader has exited: what it started may live
    on (Linux does not reuse a PID while a group still carries it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()
