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

It runs with `-I -S` (no site-packages), so it imports only the standard library, and few
modules of that: every terminal and agent command waits for it. The node imports
`SandboxSpec` and `bwrap_argv` from here too, so the spec has one definition.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import select
import signal
import struct
import sys
import time
from collections.abc import Callable, Sequence

__all__ = ["LAUNCH_FAILED", "SandboxSpec", "bwrap_argv", "main"]

LAUNCH_FAILED = 125
"""Exit status when the sandbox could not be made (as `env` and container tools use it)."""

SLIRP_MTU = 65520
SLIRP_READY_TIMEOUT_SECONDS = 10.0
SANDBOX_START_TIMEOUT_SECONDS = 30.0
_PR_SET_PDEATHSIG = 1
_NS_GET_USERNS = 0xB701  # _IO(0xb7, 0x1): the user namespace that owns a namespace
_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_IFF_UP = 0x1
_AF_INET, _SOCK_DGRAM = 2, 2
_MINIMAL_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"
_TMP_MOUNTS = ("/tmp", "/var/tmp")  # noqa: S108  (mount points inside the sandbox)
# Back to their defaults in what the launcher starts: its own handlers would otherwise be
# replaced by defaults anyway, but an ignored SIGHUP (the PTY host ignores it) would be
# inherited by every process of the sandbox.
_DEFAULT_SIGNALS = (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGPIPE)


class SandboxSpec:
    """One confined process: what it runs, what it sees, who it runs as, how it reaches out.

    Paths are host paths, shown at the same place inside the sandbox (so the paths an agent
    sees are the node's), except `tmp`, shown as /tmp and /var/tmp.

    - `writable`: directories shown read-write (the workspace's checkout and HOME);
    - `readable`: files or directories shown read-only, missing ones skipped;
    - `system`: the system directories shown read-only (a host symlink such as /bin -> usr/bin
      is made as the same symlink), missing ones skipped;
    - `hidden`: absolute paths masked inside what is shown (files become empty, directories
      empty and read-only); `writable` and `readable` entries under them stay;
    - `files`: files written for the sandbox, read-only inside (path -> text);
    - `uid`, `gid`: run as this host uid, only when the launcher runs as root;
    - `network`: a network namespace of its own, through slirp4netns (else the host's).

    A plain class rather than a dataclass: importing `dataclasses` alone cost the launcher, which
    every terminal and agent command starts, about 10 ms.
    """

    FIELDS = (
        "command", "cwd", "tmp", "writable", "readable", "system", "hidden", "files",
        "hostname", "uid", "gid", "network", "bwrap", "setpriv", "slirp4netns", "unshare",
    )  # fmt: skip

    def __init__(
        self,
        *,
        command: Sequence[str],
        cwd: str,
        tmp: str,
        writable: Sequence[str] = (),
        readable: Sequence[str] = (),
        system: Sequence[str] = (),
        hidden: Sequence[str] = (),
        files: dict[str, str] | None = None,
        hostname: str = "workspace",
        uid: int | None = None,
        gid: int | None = None,
        network: bool = False,
        bwrap: str = "bwrap",
        setpriv: str = "/usr/bin/setpriv",
        slirp4netns: str = "slirp4netns",
        unshare: str = "unshare",
    ) -> None:
        self.command, self.cwd, self.tmp = list(command), cwd, tmp
        self.writable, self.readable = list(writable), list(readable)
        self.system, self.hidden = list(system), list(hidden)
        self.files = dict(files or {})
        self.hostname, self.uid, self.gid, self.network = hostname, uid, gid, network
        self.bwrap, self.setpriv, self.slirp4netns = bwrap, setpriv, slirp4netns
        self.unshare = unshare

    def to_json(self) -> str:
        return json.dumps(
            {name: getattr(self, name) for name in self.FIELDS}, separators=(",", ":")
        )

    @classmethod
    def from_json(cls, text: str) -> SandboxSpec:
        values = json.loads(text)
        if not isinstance(values, dict):
            raise ValueError("the sandbox spec must be a JSON object")
        unknown = sorted(set(values) - set(cls.FIELDS))
        if unknown:
            raise ValueError(f"unknown sandbox spec fields: {', '.join(unknown)}")
        return cls(**values)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SandboxSpec) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"SandboxSpec({self.to_json()})"


# -- the bwrap command line ----------------------------------------------------------------------

_Mount = tuple[str, tuple[str, ...]]  # one bwrap mount: where it lands, the options making it


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
    mounts: list[_Mount] = [
        (p, ("--symlink", os.readlink(p), p) if os.path.islink(p) else ("--ro-bind", p, p))
        for p in system
    ]
    mounts += [(target, ("--bind", spec.tmp, target)) for target in _TMP_MOUNTS]
    mounts += [(p, ("--bind", p, p)) for p in spec.writable]
    mounts += [(p, ("--ro-bind", p, p)) for p in readable]
    for path, fd in file_fds.items():
        destination = _destination(path)
        mounts.append((destination, ("--perms", "0644", "--ro-bind-data", str(fd), destination)))
    shown = [p for p in (*system, *readable) if not os.path.islink(p)]
    masks = _masks(spec.hidden, within=shown, empty_fd=empty_fd)
    mounts += masks
    # In bwrap's order a mount must come after the one it sits in: outermost first.
    mounts.sort(key=lambda mount: mount[0].count("/"))
    covered = [destination for destination, options in masks if options[0] == "--tmpfs"]
    made: set[str] = set()
    argv += ["--dev", "/dev", "--proc", "/proc", "--ro-bind", "/proc/sys", "/proc/sys"]
    for destination, options in mounts:
        # bwrap makes a mount point's missing parents private (0700), which would stop the
        # workspace's user on its way to its own checkout: make them traversable first.
        for parent in _parents(destination):
            exists = any(_inside(parent, p) for p in shown) and not any(
                _inside(parent, c) for c in covered
            )
            if parent not in made and not exists:
                argv += ["--perms", "0755", "--dir", parent]
                made.add(parent)
        argv += options
        made.add(destination)
    argv += [option for mask in covered for option in ("--remount-ro", mask)]
    argv += ["--chdir", spec.cwd, "--remount-ro", "/", *sync_options, "--"]
    if spec.uid is not None:
        argv += [spec.setpriv, f"--reuid={spec.uid}", f"--regid={spec.gid}", "--clear-groups"]
        argv += ["--bounding-set=-all", "--inh-caps=-all", "--no-new-privs", "--"]
    return argv + list(spec.command)


def _masks(
    hidden: Sequence[str], *, within: Sequence[str], empty_fd: Callable[[], int]
) -> list[_Mount]:
    """A cover for each hidden path inside a shown one: an empty directory (sealed read-only
    once everything is mounted) or an empty file (not /dev/null: bind mounts are `nodev`, so
    it could not even be opened). A path inside another hidden one needs no cover."""
    for path in hidden:
        if not path.startswith("/"):
            raise ValueError(f"a hidden path must be absolute: {path}")
    found = {os.path.realpath(path) for path in hidden}
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
            masks.append((path, ("--tmpfs", path)))
        else:
            masks.append((path, ("--perms", "0444", "--ro-bind-data", str(empty_fd()), path)))
    return masks


def _parents(path: str) -> list[str]:
    """The directories above `path`, outermost first, without /."""
    parent = os.path.dirname(path)
    return [] if parent in ("/", "") else [*_parents(parent), parent]


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


def _read_child_pid(fd: int, bwrap: _Child) -> int:
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
            probe = ctypes.CDLL(None).socket(_AF_INET, _SOCK_DGRAM, 0)
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


def _start_network(spec: SandboxSpec, child_pid: int) -> tuple[_Child, int]:
    """Start slirp4netns for the sandbox's network namespace; return it and the fd whose
    closing stops it. Returns once the interface is up."""
    netns = os.open(f"/proc/{child_pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    fds = [netns]
    argv = [spec.slirp4netns, "--configure", f"--mtu={SLIRP_MTU}", "--disable-host-loopback"]
    userns = None
    if os.geteuid() == 0:
        # As root it may enter the namespace directly. It then confines itself (a minimal
        # filesystem, no capabilities, a seccomp filter), but its own mount namespace does
        # not stop its unmounts from reaching the host's shared mounts: it gets a slave one
        # of ours first.
        argv = [spec.unshare, "--mount", "--propagation=slave", "--", *argv]
        argv += ["--enable-sandbox", "--enable-seccomp"]
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
    passed = (*fds, ready_write, exit_read)
    slirp = _spawn(argv, passed=passed, env={"PATH": _MINIMAL_PATH}, quiet=True)
    try:
        ready, _, _ = select.select([ready_read], [], [], SLIRP_READY_TIMEOUT_SECONDS)
        if not ready or os.read(ready_read, 1) != b"1":
            slirp.signal(signal.SIGKILL)
            code = slirp.wait()
            raise LaunchError(f"slirp4netns did not set up the sandbox's network (exit {code})")
    finally:
        os.close(ready_read)
    return slirp, exit_write


class _Child:
    """A process the launcher started, by PID (all it needs of `subprocess.Popen`, whose
    import alone cost every sandbox start about 4 ms)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def signal(self, signum: int) -> None:
        if self.returncode is None:
            try:  # noqa: SIM105  (importing contextlib costs every start 3 ms)
                os.kill(self.pid, signum)
            except ProcessLookupError:
                pass


def _spawn(
    argv: Sequence[str],
    *,
    passed: Sequence[int] = (),
    env: dict[str, str] | None = None,
    quiet: bool = False,
) -> _Child:
    """Start `argv` with only the fds of `passed` open in it (closed here once passed on), the
    signals a launcher handles back at their defaults, and /dev/null for stdio when `quiet`."""
    for fd in passed:
        os.set_inheritable(fd, True)
    modes = ((0, os.O_RDONLY), (1, os.O_WRONLY), (2, os.O_WRONLY)) if quiet else ()
    actions = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, mode, 0) for fd, mode in modes]
    try:
        pid = os.posix_spawnp(
            argv[0],
            list(argv),
            os.environ if env is None else env,
            file_actions=actions,
            setsigdef=_DEFAULT_SIGNALS,
        )
    except OSError as exc:
        raise LaunchError(f"could not start {argv[0]}: {exc.strerror}") from None
    finally:
        for fd in passed:
            os.close(fd)
    return _Child(pid)


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
    bwrap = _spawn(argv, passed=passed)
    _forward_signals(bwrap)
    slirp: _Child | None = None
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
            _Child(child).signal(signal.SIGKILL)
        bwrap.signal(signal.SIGKILL)
        bwrap.wait()
        raise
    finally:
        for fd in (info_read, block_write, exit_fd):
            if fd != -1:
                os.close(fd)
        if slirp is not None:
            # The sandbox is gone, and with it everything slirp4netns served: kill it rather
            # than wait the ~40 ms it takes to notice its exit fd closing, and do not wait for
            # its end either (removing its tap device takes the kernel ~20 ms): whoever
            # inherits it when we exit reaps it.
            slirp.signal(signal.SIGKILL)
    return 128 - code if code < 0 else code


def _forward_signals(bwrap: _Child) -> None:
    """SIGTERM and SIGHUP end the sandbox; SIGINT and SIGQUIT from a terminal are for the
    processes inside, which get them from the terminal themselves."""

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda received, _frame: bwrap.signal(received))
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
