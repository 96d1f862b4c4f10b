"""Workspace programs run at a lower CPU priority than Corral's own processes.

An agent's build or a terminal flooding output should not make the node daemon, its PTY host
or a control plane on the same machine slow to answer: those carry every keystroke and every
page of the web app. So a program the node starts in a workspace gets a nice value
(`HostRuntimeSettings.nice`, 10) and, where the kernel schedules by session (autogroup: each
session gets an equal share, whatever its processes' nice values), its session's group gets
the same. Measured with bench/load.py (20 terminals flooding `yes`): the API's p99 fell from
156 to 70 ms and a quiet terminal's echo p50 from 60 to 11 ms.

It is a scheduling policy, not a limit: a program can make a session of its own, which is
scheduled as any other. Hard limits are the devcontainer runtime's CPU quota.
"""

from __future__ import annotations

import contextlib
import os

__all__ = ["lower_priority", "start_session"]

AUTOGROUP_FILE = "/proc/self/autogroup"


def lower_priority(nice: int) -> None:
    """Lower this process's priority by `nice`, and its session's scheduling group's if the
    kernel has one. Only for the leader of a session made for the program: the group is
    shared by the whole session, which would otherwise be the node's own."""
    if nice <= 0:
        return
    os.nice(nice)
    if os.getsid(0) != os.getpid():
        return
    with contextlib.suppress(OSError), open(AUTOGROUP_FILE, "w") as autogroup:
        autogroup.write(str(nice))


def start_session(nice: int) -> None:
    """Between fork and exec: a session of its own (so the program and what it starts are
    ended together), at `nice`."""
    os.setsid()
    lower_priority(nice)
