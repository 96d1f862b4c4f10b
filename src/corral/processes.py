"""Ending child processes: a child started in its own session is ended with its whole group,
and a child can ask to end with its parent.

git, shells and agents start helpers (ssh, git-remote-https, language servers) that a plain
`kill` of the child would leave running; and a child whose parent was killed would otherwise
run on unsupervised.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import signal

__all__ = ["exit_with_parent", "kill_process_group"]

_PR_SET_PDEATHSIG = 1


async def kill_process_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the process group led by `process` (started with start_new_session=True) and reap
    the leader. The group is killed even when its leader has exited: what it started may live
    on (Linux does not reuse a PID while a group still carries it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


def exit_with_parent(parent_pid: int, signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send `signum` to this process when its parent exits, however it
    exits (kill -9 included). False if the parent, which should be `parent_pid`, is already
    gone: the caller should then stop at once."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    return os.getppid() == parent_pid
