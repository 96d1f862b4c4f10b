"""The sandbox launcher: the process that starts one confined workspace process.

The node (or its PTY host) runs `python -I -S launcher.py SPEC` where SPEC is a `SandboxSpec`
as JSON, and this program turns it into a bubblewrap sandbox:

1. It builds bwrap's argv: namespaces (mount, PID, IPC, UTS, cgroup, network, and a user
   namespace when the node is not root), a filesystem made from an allow-list, and the files
   it writes for the sandbox (/etc/passwd, /etc/hosts, /etc/resolv.conf ...).
2. When the node is root, the command runs as the workspace's own unprivileged uid: bwrap
   (as root) builds the namespaces, then `setpriv` drops to that uid with no capabilities and
   no way to gain any. (A user namespace made by root maps to root on the host, so it is no
   help there; and bwrap run as an unprivileged uid cannot reach the node's directories to
   bind them.) When the node is not root, bwrap's user namespace confines it as usual.
3. With `network`, the sandbox gets a network namespace of its own, joined to the outside by
   slirp4netns (user-mode networking: the host sees ordinary sockets of the slirp4netns
   process). The sandbox reaches the internet but none of the host's loopback services.
   bwrap waits (`--block-fd`) until slirp4netns has set the interface up.
4. It stays as the sandbox's parent until the sandbox ends, then stops slirp4netns and exits
   with the sandbox's status. It dies with its own parent (PR_SET_PDEATHSIG), and everything
   below it dies with it (bwrap's `--die-with-parent`, slirp4netns's `--exit-fd`).

It runs with `-I -S` (no site-packages), so it imports only the standard library; the node
imports `SandboxSpec` and `bwrap_argv` from here too, so the spec has one definition.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import fcntl
import glob
import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

__all__ = ["LAUNCH_FAILED", "SandboxSpec", "bwrap_argv", "main"]

LAUNCH_FAILED = 125
"""Exit status when the sandbox could not be made (as `env` and container tools use it)."""

SLIRP_MTU = 65520
SLIRP_READY_TIMEOUT_SECONDS = 10.0
SANDBOX_START_TIMEOUT_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1
_NS_GET_USERNS = 0xB701  # _IO(0xb7, 0x1): the user namespace that owns a namespace
_CLONE_NEWNS = 0x00020000
_CLONE_NEWUSER = 0x10000000
_MS_REC = 0x4000
_MS_SLAVE = 0x80000
_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_IFF_UP = 0x1
_MINIMAL_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_TMP_MOUNTS = ("/tmp", "/var/tmp")  # noqa: S108  (mount points inside the sandbox)


@dataclass(frozen=True)
class SandboxSpec:
    """One confined process: what it runs, what it sees, who it runs as, how it reaches out.

    Paths are host paths, shown at the same place inside the sandbox (so the paths an agent
    sees are the node's), except `tmp`, shown as /tmp and /var/tmp.
    """

    command: list[str]
    cwd: str
    tmp: str
    writable: list[str] = field(default_factory=list)
    """Directories shown read-write: the workspace's checkout and HOME."""
    readable: list[str] = field(default_factory=list)
    """Files or directories shown read-only; missing ones are skipped."""
    system: list[str] = field(default_factory=list)
    """The system directories shown read-only (a host symlink such as /bin -> usr/bin is made
    as the same symlink); missing ones are skipped."""
    hidden: list[str] = field(default_factory=list)
    """Absolute paths or glob patterns masked inside what is shown (files become empty,
    directories empty and read-only). `writable` and `readable` entries under them stay."""
    files: dict[str, str] = field(default_factory=dict)
    """Files written for the sandbox (read-only inside): path -> text."""
    hostname: str = "workspace"
    uid: int | None = None
    """Run as this host uid (and `gid`); only when the launcher runs as root."""
    gid: int | None = None
    network: bool = False
    """A network namespace of its own, through slirp4netns (else the host's network)."""
    bwrap: str = "bwrap"
    setpriv: str = "/usr/bin/setpriv"
    slirp4netns: str = "slirp4netns"

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SandboxSpec:
        values = json.loads(text)
        if not isinstance(values, dict):
            raise ValueError("the sandbox spec must be a JSON object")
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown sandbox spec fields: {', '.join(unknown)}")
        return cls(**values)


# -- the bwrap command line ----------------------------------------------------------------------


def bwrap_argv(
    spec: SandboxSpec,
    *,
    file_fds: dict[str, int],
    empty_fd: Callable[[], int],
    sync_options: Sequence[str] = (),
) -> list[str]:
    """bwrap's argv for `spec`. `file_fds` maps each of `spec.files` to a readable fd holding
    its text, `empty_fd` makes an fd of an empty file for each hidden file (bwrap consumes
    each), and `sync_options` go last before the command (`--info-fd N` ...)."""
    argv = [spec.bwrap, "--die-with-parent", "--unshare-pid", "--unshare-ipc"]
    argv += ["--unshare-uts", "--hostname", spec.hostname, "--unshare-cgroup-try"]
    if spec.network:
        argv.append("--unshare-net")
    if spec.uid is None:
        # Not root: the user namespace is the confinement; none may be made inside it.
        argv += ["--unshare-user", "--disable-userns", "--cap-drop", "ALL"]
    else:
        # Root: keep what bwrap needs to reach into the workspace's own 0700 directories
        # (--chdir, mount points) and what `setpriv` needs to become the workspace's user;
        # setpriv then gives up all of it: a new uid clears them, and the bounding set is
        # emptied, before the command runs.
        argv += ["--cap-drop", "ALL"]
        for cap in ("DAC_OVERRIDE", "SETUID", "SETGID", "SETPCAP"):
            argv += ["--cap-add", f"CAP_{cap}"]
    system = [p for p in spec.system if os.path.lexists(p)]
    readable = [p for p in spec.readable if os.path.exists(p)]
    mounts = [
        _Mount(p, ("--symlink", os.readlink(p), p) if os.path.islink(p) else ("--ro-bind", p, p))
        for p in system
    ]
    mounts += [_Mount(target, ("--bind", spec.tmp, target)) for target in _TMP_MOUNTS]
    mounts += [_Mount(p, ("--bind", p, p)) for p in spec.writable]
    mounts += [_Mount(p, ("--ro-bind", p, p)) for p in readable]
    for path, fd in file_fds.items():
        destination = _destination(path)
        mounts.append(
            _Mount(destination, ("--perms", "0644", "--ro-bind-data", str(fd), destination))
        )
    shown = [p for p in (*system, *readable) if not os.path.islink(p)]
    masks = _masks(spec.hidden, within=shown, empty_fd=empty_fd)
    mounts += masks
    # In bwrap's order a mount must come after the one it sits in: outermost first.
    mounts.sort(key=lambda mount: mount.destination.count("/"))
    covered = [m.destination for m in masks if m.options[0] == "--tmpfs"]
    made: set[str] = set()
    argv += ["--dev", "/dev", "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys"]
    for mount in mounts:
        # bwrap makes a mount point's missing parents private (0700), which would stop the
        # workspace's user on its way to its own checkout: make them traversable first.
        for parent in _parents(mount.destination):
            exists = any(_inside(parent, p) for p in shown) and not any(
                _inside(parent, c) for c in covered
            )
            if parent not in made and not exists:
                argv += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        argv += mount.options
        made.add(mount.destination)
    argv += [option for mask in covered for option in ("--remount-ro", mask)]
    argv += ["--chdir", spec.cwd, "--remount-ro", "/", *sync_options, "--"]
    if spec.uid is not None:
        argv += [spec.setpriv, f"--reuid={spec.uid}", f"--regid={spec.gid}", "--clear-groups"]
        argv += ["--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--"]
    return argv + list(spec.command)


@dataclass(frozen=True)
class _Mount:
    destination: str
    options: tuple[str, ...]


def _masks(
    hidden: Sequence[str], *, within: Sequence[str], empty_fd: Callable[[], int]
) -> list[_Mount]:
    """A cover for each hidden path inside a shown one: an empty directory (sealed read-only
    once everything is mounted) or an empty file (not /dev/null: bind mounts are `nodev`, so
    it could not even be opened). A path inside another hidden one needs no cover."""
    found: set[str] = set()
    for pattern in hidden:
        if not pattern.startswith("/"):
            raise ValueError(f"a hidden path must be absolute: {pattern}")
        found.update(os.path.realpath(match) for match in glob.glob(pattern))
    masks: list[_Mount] = []
    covered: list[str] = []
    for path in sorted(found, key=lambda p: p.count("/")):
        if path == "/":
            raise ValueError("cannot hide / from a sandbox")
        if not any(_inside(path, parent) for parent in within):
            continue  # not shown at all
        if any(_inside(path, parent) for parent in covered) or not os.path.exists(path):
            continue
        covered.append(path)
        if os.path.isdir(path):
            masks.append(_Mount(path, ("--tmpfs", path)))
        else:
            options = ("--perms", "0444", "--ro-bind-data", str(empty_fd()), path)
            masks.append(_Mount(path, options))
    return masks


def _parents(path: str) -> list[str]:
    """The directories above `path`, outermost first, without /."""
    parents = []
    parent = os.path.dirname(path)
    while parent not in ("/", ""):
        parents.append(parent)
        parent = os.path.dirname(parent)
    return parents[::-1]


def _inside(path: str, parent: str) -> bool:
    return path == parent or path.startswith(parent.rstrip("/") + "/")


def _destination(path: str) -> str:
    """Where a file written for the sandbox must be mounted: through a host symlink (Debian's
    /etc/resolv.conf may point into /run), since the sandbox's /etc is the host's."""
    return os.path.realpath(path) if os.path.islink(path) else path


# -- running it -----------------------------------------------------------------------------------


class LaunchError(Exception):
    """The sandbox could not be made; the message says why."""


def _die_with_parent() -> None:
    # As corral.processes.exit_with_parent, which the launcher cannot import.
    parent = os.getppid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(LAUNCH_FAILED)


def _data_fd(text: str) -> int:
    fd = os.memfd_create("corral-sandbox-file", os.MFD_CLOEXEC)
    os.write(fd, text.encode())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def _read_child_pid(fd: int, bwrap: subprocess.Popen[bytes]) -> int:
    """The PID of the sandbox's first process, from bwrap's `--info-fd` JSON."""
    data = b""
    deadline = time.monotonic() + SANDBOX_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        data += chunk
        try:
            return int(json.loads(data)["child-pid"])
        except (ValueError, KeyError):
            continue
    bwrap.wait()
    raise LaunchError(f"bubblewrap could not make the sandbox (exit {bwrap.returncode})")


def _setns(fd: int, kind: int) -> None:
    if ctypes.CDLL(None, use_errno=True).setns(fd, kind) != 0:
        raise OSError(ctypes.get_errno(), "setns")


def _slave_mounts() -> None:
    """In a new mount namespace, receive the host's mount events but send none back."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(_CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(None, b"/", None, _MS_REC | _MS_SLAVE, None) != 0:
        raise OSError(ctypes.get_errno(), "mount(/, MS_REC|MS_SLAVE)")


def _wait_for_loopback(netns: int, userns: int | None) -> None:
    """Wait until bwrap has set up the sandbox's loopback interface, its last step with the
    network: slirp4netns brings `lo` up too, and if it came first bwrap's own setup would fail.
    A forked helper enters the namespace and watches `lo`'s flags."""
    helper = os.fork()
    if helper == 0:  # pragma: no cover - the child process
        code = 1
        try:
            if userns is not None:
                _setns(userns, _CLONE_NEWUSER)
            _setns(netns, _CLONE_NEWNET)
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            request = struct.pack("16sH", b"lo", 0)
            deadline = time.monotonic() + SANDBOX_START_TIMEOUT_SECONDS
            while time.monotonic() < deadline:
                flags = struct.unpack("16sH", fcntl.ioctl(probe, _SIOCGIFFLAGS, request))[1]
                if flags & _IFF_UP:
                    code = 0
                    break
                time.sleep(0.001)
        finally:
            os._exit(code)
    _, status = os.waitpid(helper, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise LaunchError("the sandbox's network namespace did not come up")


def _start_network(spec: SandboxSpec, child_pid: int) -> tuple[subprocess.Popen[bytes], int]:
    """Start slirp4netns for the sandbox's network namespace; return it and the fd whose
    closing stops it. Returns once the interface is up."""
    netns = os.open(f"/proc/{child_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    fds = [netns]
    argv = [spec.slirp4netns, "--configure", f"--mtu={SLIRP_MTU}", "--disable-host-loopback"]
    userns = None
    before_exec: Callable[[], None] | None = None
    if os.geteuid() == 0:
        # As root it may enter the namespace directly. It then confines itself (a minimal
        # filesystem, no capabilities, a seccomp filter), in a mount namespace of our making
        # first: its own does not stop unmounts from reaching the host's shared mounts.
        argv += ["--enable-sandbox", "--enable-seccomp"]
        before_exec = _slave_mounts
    else:
        # Not root: it must first enter the user namespace that owns the network namespace.
        userns = fcntl.ioctl(netns, _NS_GET_USERNS)
        fds.append(userns)
        argv.append(f"--userns-path=/proc/self/fd/{userns}")
    try:
        _wait_for_loopback(netns, userns)
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise
    ready_read, ready_write = os.pipe()
    exit_read, exit_write = os.pipe()
    argv += [f"--ready-fd={ready_write}", f"--exit-fd={exit_read}"]
    argv += ["--netns-type=path", f"/proc/self/fd/{netns}", "tap0"]
    try:
        slirp = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(*fds, ready_write, exit_read),
            env={"PATH": _MINIMAL_PATH},
            preexec_fn=before_exec,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise LaunchError(f"could not start slirp4netns: {exc}") from None
    finally:
        for fd in (*fds, ready_write, exit_read):
            os.close(fd)
    try:
        ready, _, _ = select.select([ready_read], [], [], SLIRP_READY_TIMEOUT_SECONDS)
        if not ready or os.read(ready_read, 1) != b"1":
            slirp.kill()
            slirp.wait()
            raise LaunchError(
                f"slirp4netns did not set up the sandbox's network (exit {slirp.returncode})"
            )
    finally:
        os.close(ready_read)
    return slirp, exit_write


def launch(spec: SandboxSpec) -> int:
    """Run the sandbox to its end and return its exit status."""
    if spec.uid is not None and os.geteuid() != 0:
        raise LaunchError("a sandbox with its own uid needs the node to run as root")
    file_fds = {path: _data_fd(text) for path, text in spec.files.items()}
    passed = list(file_fds.values())

    def empty_fd() -> int:
        passed.append(_data_fd(""))
        return passed[-1]

    sync: list[str] = []
    info_read = block_write = -1
    if spec.network:
        # bwrap says which process to give a network to, then waits until it has one.
        info_read, info_write = os.pipe()
        block_read, block_write = os.pipe()
        sync = ["--info-fd", str(info_write), "--block-fd", str(block_read)]
        passed += [info_write, block_read]
    argv = bwrap_argv(spec, file_fds=file_fds, empty_fd=empty_fd, sync_options=sync)
    os.chdir("/")
    try:
        bwrap = subprocess.Popen(argv, pass_fds=passed)
    except OSError as exc:
        raise LaunchError(f"could not start {spec.bwrap}: {exc.strerror}") from None
    finally:
        for fd in passed:
            os.close(fd)
    _forward_signals(bwrap)
    slirp: subprocess.Popen[bytes] | None = None
    exit_fd = child = -1
    try:
        if spec.network:
            child = _read_child_pid(info_read, bwrap)
            slirp, exit_fd = _start_network(spec, child)
            os.write(block_write, b"1")
        code = bwrap.wait()
    except BaseException:
        # The sandbox may not be set to die with bwrap yet, and closing the block fd lets it
        # go on: kill it by its own PID first.
        if child != -1:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(child, signal.SIGKILL)
        bwrap.kill()
        bwrap.wait()
        raise
    finally:
        for fd in (info_read, block_write, exit_fd):
            if fd != -1:
                os.close(fd)
        if slirp is not None:
            try:
                slirp.wait(timeout=5)
            except subprocess.TimeoutExpired:
                slirp.kill()
                slirp.wait()
    return 128 - code if code < 0 else code


def _forward_signals(bwrap: subprocess.Popen[bytes]) -> None:
    """SIGTERM and SIGHUP end the sandbox; SIGINT and SIGQUIT from a terminal are for the
    processes inside, which get them from the terminal themselves."""

    def forward(signum: int, _frame: object) -> None:
        if bwrap.returncode is None:
            bwrap.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, forward)
    for signum in (signal.SIGINT, signal.SIGQUIT):
        signal.signal(signum, lambda *_: None)


def main(argv: Sequence[str]) -> int:
    _die_with_parent()
    if len(argv) != 1:
        print("usage: launcher.py SPEC-JSON", file=sys.stderr)
        return LAUNCH_FAILED
    try:
        spec = SandboxSpec.from_json(argv[0])
        return launch(spec)
    except (LaunchError, ValueError, TypeError) as exc:
        print(f"corral: cannot start the workspace's sandbox: {exc}", file=sys.stderr)
        return LAUNCH_FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
