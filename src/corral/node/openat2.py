"""Linux's `openat2(2)`: opening a path so that its resolution cannot leave a directory.

Checking a path and then opening it is a race: a process in the workspace can swap a directory
for a symlink in between, and `O_NOFOLLOW` guards only the last component. With
`RESOLVE_BENEATH` the kernel itself refuses, atomically, any resolution that would leave the
directory given as `dirfd` (through `..`, an absolute symlink or a symlink that climbs out), and
`RESOLVE_NO_MAGICLINKS` refuses `/proc/<pid>/fd/*`-style links.

Written by hand because Python has no `os.openat2` (3.11 to 3.13) and no maintained package
wraps it; it is one system call through ctypes. Linux 5.6 or newer.
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
from typing import Any

__all__ = [
    "RESOLVE_BENEATH",
    "RESOLVE_NO_MAGICLINKS",
    "openat2",
    "openat2_problem",
]

# The same number on every architecture: openat2 came after the system call tables were unified.
_SYS_OPENAT2 = 437
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_BENEATH = 0x08
_CONFINED = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS
# A rename anywhere on the system during a resolution that crosses `..` makes the kernel answer
# EAGAIN rather than risk a wrong answer; trying again is the documented remedy.
_EAGAIN_RETRIES = 64


class _OpenHow(ctypes.Structure):
    _fields_ = (
        ("flags", ctypes.c_uint64),
        ("mode", ctypes.c_uint64),
        ("resolve", ctypes.c_uint64),
    )


@functools.cache
def _syscall() -> Any:
    function = ctypes.CDLL(None, use_errno=True).syscall
    function.restype = ctypes.c_long
    return function


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, *, resolve: int = _CONFINED) -> int:
    """A new file descriptor for `path` under `dirfd` (close-on-exec added), or `OSError`.

    The errno says why: `EXDEV` for a path that would leave `dirfd`, `ELOOP` for a magic link
    or too many symlinks, `ENOSYS` on kernels without the call, and the usual `open` errors.
    """
    how = _OpenHow(flags | os.O_CLOEXEC, mode, resolve)
    raw = os.fsencode(path)
    for _ in range(_EAGAIN_RETRIES):
        fd = _syscall()(
            ctypes.c_long(_SYS_OPENAT2),
            ctypes.c_int(dirfd),
            ctypes.c_char_p(raw),
            ctypes.byref(how),
            ctypes.c_size_t(ctypes.sizeof(how)),
        )
        if fd >= 0:
            return int(fd)
        error = ctypes.get_errno()
        if error not in (errno.EAGAIN, errno.EINTR):
            raise OSError(error, os.strerror(error), path)
    raise OSError(errno.EAGAIN, "the path kept changing while it was resolved", path)


@functools.cache
def openat2_problem() -> str | None:
    """Why confined opens cannot work on this machine, or None when they can (checked once)."""
    try:
        fd = openat2(-100, ".", os.O_PATH | os.O_DIRECTORY)  # -100: AT_FDCWD
    except OSError as exc:
        if exc.errno == errno.ENOSYS:
            return "this kernel has no openat2 system call (Linux 5.6 or newer is needed)"
        # A container's seccomp profile may refuse it with EPERM.
        return f"openat2 does not work here: {exc.strerror}"
    os.close(fd)
    return None
