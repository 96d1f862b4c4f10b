"""Confining a workspace's processes: what they may see, whom they run as, what they reach.

An agent runs arbitrary code with the user's blessing, so a workspace process must not reach
the node's credential, the control plane's secrets, other workspaces, the host's loopback
services or its kernel settings. What a confined process gets:

- a filesystem built from an allow-list: the system directories a toolchain needs (`/usr`,
  `/etc`, the `/bin` and `/lib` links) read-only, minus the secrets inside them; its
  workspace's checkout and HOME read-write; the agent installs and trust-store files
  read-only; its own /tmp; a fresh /dev and /proc with /proc/sys read-only; nothing else
  (no /home, /root, /opt, /var, /srv, /run, /mnt, no other workspace, no node directory);
- its own PID, IPC, UTS (hostname) and cgroup namespaces, and, unless the node is set to share
  its network, a network namespace of its own with user-mode networking (slirp4netns): the
  internet, but not the host's 127.0.0.1;
- no root: on a root node each workspace has a uid of its own (no capabilities, no new
  privileges); on a non-root node, the node's user inside a user namespace that can make no
  further user namespaces.

`launcher.py` does the work, as a process of its own in front of bubblewrap (see there for
why); this module builds its spec from a workspace's layout, and `probe` checks what works on
this machine.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from corral.node.sandbox.launcher import SandboxSpec
from corral.node.workspacefiles import FileOwner

__all__ = [
    "DEFAULT_HIDDEN_PATHS",
    "DEFAULT_SYSTEM_PATHS",
    "LAUNCHER",
    "WORKSPACE_USER",
    "Sandbox",
    "SandboxSpec",
    "launcher_argv",
]

LAUNCHER = Path(__file__).with_name("launcher.py")
DEFAULT_SYSTEM_PATHS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc")
DEFAULT_HIDDEN_PATHS = (
    "/etc/shadow",
    "/etc/shadow-",
    "/etc/gshadow",
    "/etc/gshadow-",
    "/etc/ssh/ssh_host_*_key",
    "/etc/sudoers",
    "/etc/sudoers.d",
    "/etc/security/opasswd",
)
SLIRP_DNS = "10.0.2.3"
"""slirp4netns's DNS forwarder, as its guests see it."""
WORKSPACE_USER = "corral"
"""The name of a workspace's own user on a root node."""


def launcher_argv(spec: SandboxSpec) -> tuple[str, ...]:
    """The command that runs `spec`: the launcher, on this Python, isolated from the node's
    environment and site-packages (it needs only the standard library)."""
    return (sys.executable, "-I", "-S", str(LAUNCHER), spec.to_json())


class Sandbox:
    """Builds launcher commands for one node's workspaces.

    `system_paths`, `readable_paths` and `hidden_paths` make the filesystem view (see
    `SandboxSpec`); `network` gives each sandbox its own network namespace. `user_name` and
    `shell` describe the user a workspace process runs as.
    """

    def __init__(
        self,
        *,
        system_paths: Sequence[str],
        readable_paths: Sequence[str],
        hidden_paths: Sequence[str],
        network: bool,
        user_name: str,
        shell: str,
        bwrap: str,
        slirp4netns: str,
    ) -> None:
        self.system_paths = list(system_paths)
        self.readable_paths = list(readable_paths)
        self.hidden_paths = list(hidden_paths)
        self.network = network
        self.user_name = user_name
        self.shell = shell
        self.bwrap = bwrap
        self.slirp4netns = slirp4netns

    def command(
        self,
        argv: Sequence[str],
        *,
        writable: Sequence[Path],
        tmp: Path,
        cwd: Path,
        home: Path,
        hostname: str,
        readable: Sequence[Path] = (),
        owner: FileOwner | None = None,
    ) -> tuple[str, ...]:
        """The argv that runs `argv` confined, able to write only `writable`, as `owner` (a
        root node's workspace uid) or as the node's user in a user namespace."""
        uid, gid = owner if owner is not None else (os.getuid(), os.getgid())
        spec = SandboxSpec(
            command=list(argv),
            cwd=str(cwd),
            tmp=str(tmp),
            writable=[str(path) for path in writable],
            readable=[*self.readable_paths, *(str(path) for path in readable)],
            system=self.system_paths,
            hidden=_expand(self.hidden_paths),
            files=self._files(uid, gid, home, hostname),
            hostname=hostname,
            uid=owner.uid if owner is not None else None,
            gid=owner.gid if owner is not None else None,
            network=self.network,
            bwrap=self.bwrap,
            slirp4netns=self.slirp4netns,
        )
        return launcher_argv(spec)

    def _files(self, uid: int, gid: int, home: Path, hostname: str) -> dict[str, str]:
        """Account and network files that describe the sandbox rather than the host: only its
        own user (no list of the host's accounts), its own hostname, and slirp4netns's DNS."""
        name = self.user_name
        files = {
            "/etc/passwd": (
                "root:x:0:0:root:/root:/usr/sbin/nologin\n"
                f"{name}:x:{uid}:{gid}:{name}:{home}:{self.shell}\n"
                "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
            ),
            "/etc/group": f"root:x:0:\n{name}:x:{gid}:\nnogroup:x:65534:\n",
            "/etc/hostname": f"{hostname}\n",
            "/etc/hosts": (
                f"127.0.0.1\tlocalhost\n127.0.1.1\t{hostname}\n::1\tlocalhost ip6-localhost\n"
            ),
        }
        if self.network:
            files["/etc/resolv.conf"] = f"nameserver {SLIRP_DNS}\n"
        return {path: text for path, text in files.items() if os.path.lexists(path)}


def _expand(patterns: Sequence[str]) -> list[str]:
    """Each glob pattern's matches, each as the path it resolves to (the launcher takes plain
    paths: `glob` would cost it an import on every start)."""
    return sorted({os.path.realpath(match) for pattern in patterns for match in glob.glob(pattern)})
