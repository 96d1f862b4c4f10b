"""Ending child processes: a child started in its own session is ended with its whole group,
and a child can ask to end with its parent; and running a tool that way (`run_tool`).

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
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path

__all__ = [
    "PROCESS_MARKER_VARIABLE",
    "exit_with_parent",
    "kill_marked",
    "kill_process_group",
    "run_tool",
]

_PR_SET_PDEATHSIG = 1


async def kill_process_group(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the process group led by `process` (started with start_new_session=True) and reap
    the leader. The group is killed even when its leader has exited: what it started may live
    on (Linux does not reuse a PID while a group still carries it)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    await process.wait()


PROCESS_MARKER_VARIABLE = "CORRAL_PROCESS"
"""Carries a random marker into a process started where its group cannot be reached (inside a
container, through `docker exec`): it and everything it starts inherit it, so `kill_marked`
finds them all by their environment."""


def kill_marked(marker: str, signum: int = signal.SIGKILL) -> int:
    """Send `signum` to every process whose environment holds `PROCESS_MARKER_VARIABLE=marker`,
    and return how many there were. Needs to read other users' `/proc/PID/environ` (root).

    A process can drop the variable from its own children's environment: those are left,
    and are ended when their container stops. A marker is random and known only to the node and
    the processes carrying it, so no one can make the node signal a process of someone else.
    """
    needle = f"{PROCESS_MARKER_VARIABLE}={marker}".encode()
    signalled = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as file:
                found = needle in file.read().split(b"\0")
        except OSError:
            continue  # gone meanwhile, or not ours to read
        if found:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(name), signum)
                signalled += 1
    return signalled


async def run_tool(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    read: Callable[[asyncio.StreamReader], Awaitable[None]],
    timeout_seconds: float,
    cwd: Path | None = None,
    merge_output: bool = False,
) -> int:
    """Run a tool (git, npm) to its end and return its exit status: in a session of its own,
    with no input, `read` reading its stderr (with `merge_output`, its stdout and stderr
    together; else its stdout is discarded). Its whole group is killed when it ends, at the
    timeout (which raises TimeoutError) or when the caller is cancelled. Raises OSError if
    the tool cannot start."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE if merge_output else asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.STDOUT if merge_output else asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    output = process.stdout if merge_output else process.stderr
    assert output is not None
    try:
        async with asyncio.timeout(timeout_seconds):
            await read(output)
            return await process.wait()
    finally:
        await kill_process_group(process)


def exit_with_parent(parent_pid: int, signum: int = signal.SIGTERM) -> bool:
    """Ask the kernel to send `signum` to this process when its parent exits, however it
    exits (kill -9 included). False if the parent, which should be `parent_pid`, is already
    gone: the caller should then stop at once."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, signum, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")
    return os.getppid() == parent_pid
