"""Confining a workspace's processes with bubblewrap (`bwrap`).

An agent runs arbitrary code with the user's blessing, so a workspace process must not reach the
node's credential, other workspaces or the host's secrets. bubblewrap gives us that with mount and
PID namespaces and no daemon; it is a small, audited tool that Flatpak relies on, so we build its
argv here rather than writing namespace code of our own.

What a confined process sees:

- the whole system read-only (`--ro-bind / /`), a minimal `/dev` and its own `/proc`;
- its workspace's checkout and HOME read-write at their own paths, and the workspace's own
  `tmp/` as `/tmp`, shared by that workspace's processes (an agent and the user's shell see the
  same /tmp, as on a machine) and invisible to the host and to other workspaces. The rest of the
  workspace's area, where the runtime keeps its state, stays out of reach;
- empty, read-only directories in place of every hidden directory (the node's data directory,
  the workspaces directory, home directories ...) and an empty file in place of hidden files.

Choices, and why:

- `--cap-drop ALL`: when the node runs as root, bwrap keeps every capability by default, and a
  process with CAP_SYS_ADMIN can simply `umount` a hidden directory to see what is under it.
  Without capabilities, root in the sandbox can neither undo the mounts nor remount / read-write.
- `--unshare-pid` with a fresh `/proc`: otherwise `/proc/<node pid>/environ` would show the node's
  environment. It also makes the sandbox one unit: when the outer `bwrap` process dies,
  `--die-with-parent` kills the sandbox's init, and with it everything inside, so the caller can
  stop a whole process tree through the one PID it started.
- `--unshare-ipc`: no SysV IPC or POSIX message queues shared with the host.
- No `--new-session`: it calls setsid() inside the sandbox, which detaches the process from the
  PTY the node made for it: bash then reports "no job control" and Ctrl-Z, `fg` and `bg` stop
  working. bwrap offers it against TIOCSTI (typing into the caller's terminal), but the caller
  always starts us in a new session of our own (a PTY's session, or `start_new_session=True`), so
  the only terminal a process can type into is its own workspace's; with no capabilities it cannot
  use TIOCSTI on any other terminal.
- The network namespace stays shared: agents must reach their model APIs.
"""

from __future__ import annotations

import functools
import glob
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

__all__ = ["BWRAP", "bwrap_argv", "bwrap_available", "bwrap_problem"]

BWRAP = "bwrap"

_TMP = Path("/tmp")  # noqa: S108  (the mount point we replace, not a file we make)
_PROBE_TIMEOUT_SECONDS = 10.0
_PROBE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Namespaces and limits every sandbox gets, before and after the mounts.
_ISOLATION = (
    "--unshare-pid",
    "--unshare-ipc",
    "--die-with-parent",
    "--cap-drop",
    "ALL",
)


def bwrap_argv(
    argv: Sequence[str],
    *,
    writable: Sequence[Path],
    readable: Sequence[Path] = (),
    tmp: Path,
    cwd: Path,
    hidden: Iterable[str | Path],
    bwrap: str = BWRAP,
) -> tuple[str, ...]:
    """The argv that runs `argv` able to write only the `writable` directories, with `tmp` as
    its /tmp, starting in `cwd`.

    `hidden` holds absolute paths or glob patterns; each match is hidden, missing ones are
    skipped. Hidden directories may contain the writable and `readable` ones (the workspaces
    directory and the agent installs live in the node's data directory): those are bound after
    the hiding and stay reachable.
    """
    mounts, remounts = _hiding(hidden)
    binds = [arg for path in writable for arg in ("--bind", str(path), str(path))]
    binds += [arg for path in readable for arg in ("--ro-bind", str(path), str(path))]
    return (
        bwrap,
        "--ro-bind",
        "/",
        "/",
        "--dev",
        "/dev",
        "--proc",
        "/proc",
        *mounts,
        "--bind",
        str(tmp),
        str(_TMP),
        *binds,
        *remounts,
        "--chdir",
        str(cwd),
        *_ISOLATION,
        "--",
        *argv,
    )


def _hiding(hidden: Iterable[str | Path]) -> tuple[list[str], list[str]]:
    """bwrap options that cover each hidden path, and those that then make the covers read-only.

    Paths under /tmp are skipped: /tmp is replaced as a whole. So is a path inside another
    hidden one. A missing path is skipped because bwrap cannot make a mount point on the
    read-only root.
    """
    mounts: list[str] = []
    remounts: list[str] = []
    kept: list[Path] = []
    for path in sorted(_expand(hidden), key=lambda p: len(p.parts)):
        if path == Path("/"):
            raise ValueError("cannot hide / from a sandbox")
        if _within(path, _TMP) or any(_within(path, parent) for parent in kept):
            continue
        kept.append(path)
        if path.is_dir():
            mounts += ["--tmpfs", str(path)]
            remounts += ["--remount-ro", str(path)]
        else:
            mounts += ["--ro-bind", "/dev/null", str(path)]
    return mounts, remounts


def _expand(patterns: Iterable[str | Path]) -> set[Path]:
    found: set[Path] = set()
    for pattern in patterns:
        if not Path(pattern).is_absolute():
            raise ValueError(f"a hidden path must be absolute: {pattern}")
        for match in glob.glob(str(pattern)):
            path = Path(match).resolve()
            if path.exists():
                found.add(path)
    return found


def _within(path: Path, parent: Path) -> bool:
    return path == parent or parent in path.parents


def bwrap_available(bwrap: str = BWRAP) -> bool:
    """Whether bubblewrap is installed and can make a sandbox on this machine (cached)."""
    return bwrap_problem(bwrap) is None


@functools.cache
def bwrap_problem(bwrap: str = BWRAP) -> str | None:
    """Why bubblewrap cannot confine processes here, or None when it can (checked once).

    Being installed is not enough: some kernels and container hosts forbid the namespaces or the
    /proc mount it needs. So this starts one sandbox with the same options a workspace gets.
    """
    executable = shutil.which(bwrap)
    if executable is None:
        return f"{bwrap} is not installed (install the bubblewrap package)"
    argv = [executable, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"]
    argv += ["--tmpfs", str(_TMP), "--remount-ro", str(_TMP), *_ISOLATION, "--", "true"]
    try:
        result = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            env={"PATH": _PROBE_PATH},
            timeout=_PROBE_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"{bwrap} did not finish a trial sandbox within {_PROBE_TIMEOUT_SECONDS:g} s"
    except OSError as exc:
        return f"{bwrap} could not be started: {exc.strerror or exc}"
    if result.returncode != 0:
        message = " ".join(result.stderr.decode(errors="replace").split())
        return f"{bwrap} cannot make a sandbox here: {message or f'exit {result.returncode}'}"
    return None
