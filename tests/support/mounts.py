"""Unmounting what a killed process left mounted below a directory the tests own.

dockerd mounts overlays, shm and network namespaces under its data and exec roots, and
debootstrap mounts /proc and /sys inside the tree it builds. Both undo that when they finish
well; killed, they leave the mounts behind, and then the directory cannot be removed (and on
a shared machine, a mount under /tmp lives on). The tests share this process's mount namespace
with them, so /proc/self/mountinfo lists what is left.
"""

from __future__ import annotations

import ctypes
import os
import re
from pathlib import Path

__all__ = ["mounts_below", "unmount_below"]

_MNT_DETACH = 2
_PASSES = 5
"""Mounts can be stacked on one point: each pass removes the top layer of each."""
_ESCAPED = re.compile(r"\\([0-7]{3})")


def mounts_below(directory: Path) -> list[str]:
    """The mount points at or below `directory`, in the order they were mounted."""
    root = os.path.realpath(directory)
    with open("/proc/self/mountinfo") as file:
        points = [_unescape(line.split()[4]) for line in file]
    return [point for point in points if point == root or point.startswith(root + "/")]


def unmount_below(directory: Path) -> list[str]:
    """Unmount everything at or below `directory`, newest first, detaching (lazily) what is
    busy. Returns the mount points that are still there afterwards: none, unless something
    is wrong enough that a test should say so."""
    libc = ctypes.CDLL(None, use_errno=True)
    for _ in range(_PASSES):
        points = mounts_below(directory)
        if not points:
            return []
        for point in reversed(points):
            encoded = os.fsencode(point)
            if libc.umount2(encoded, 0) != 0:
                libc.umount2(encoded, _MNT_DETACH)
    return mounts_below(directory)


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash in a path as octal escapes."""
    return _ESCAPED.sub(lambda match: chr(int(match.group(1), 8)), field)
