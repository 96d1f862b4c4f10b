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
    """SIGKILL the process group led by `process` (started with start_new_session=True), if
    the process is still running, and reap it."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        await process.wait()
