"""Workspaces that are directories on the node: the layout and the on-disk state they share.

A runtime keeps no state in memory (the node may restart at any time), so everything `status`
answers is read back from the workspace's directory:

    <workspaces_dir>/<workspace id>/
        repo/              the checkout; new processes start here
        home/              HOME for the workspace's processes
        tmp/               /tmp for sandboxed processes
        .corral-ready      written last by `create`: without it the area is half-made
        .corral-stopped    present while the workspace is stopped

`AreaRuntime` implements everything but how the checkout is made (`_populate`) and how a command
is wrapped (`_wrap`), so the `host` runtime and its fake cannot drift apart.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import os
import pwd
import re
import shutil
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from corral.errors import InvalidInput
from corral.netenv import NetworkEnvironment
from corral.node.runtimes.base import (
    ProcessSpec,
    Progress,
    Runtime,
    RuntimeError_,
    RuntimeStatus,
    WorkspaceHandle,
)
from corral.node.workspacefiles import FileOwner, WorkspaceFiles
from corral.protocol.messages import WorkspaceSpec

__all__ = [
    "DEFAULT_PATH",
    "Area",
    "AreaRuntime",
    "give_tree",
    "remove_tree",
]

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_SAFE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


@dataclass(frozen=True)
class Area:
    root: Path
    checkout: str = "repo"
    """The checkout's directory name (a dev container shows it as `/workspaces/<name>`)."""

    @property
    def repo(self) -> Path:
        return self.root / self.checkout

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def tmp(self) -> Path:
        return self.root / "tmp"

    @property
    def ready_marker(self) -> Path:
        return self.root / ".corral-ready"

    @property
    def stopped_marker(self) -> Path:
        return self.root / ".corral-stopped"

    def status(self) -> RuntimeStatus:
        if not (self.ready_marker.is_file() and self.repo.is_dir()):
            return RuntimeStatus.MISSING
        if self.stopped_marker.exists():
            return RuntimeStatus.STOPPED
        return RuntimeStatus.RUNNING

    def make_dirs(self) -> None:
        self.root.mkdir(mode=0o700, parents=True)
        self.home.mkdir(mode=0o700)
        self.tmp.mkdir(mode=0o700)


def remove_tree(path: Path) -> None:
    """Remove `path` and everything in it; a missing path is fine.

    Tools make read-only directories (Go's module cache, some build outputs), and without
    write permission on a directory its entries cannot be removed, so those are opened up first.
    Git's read-only object files need nothing: removing a file needs its directory's permission.
    """
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and not path.is_symlink():
        path.chmod(stat.S_IMODE(path.stat().st_mode) | stat.S_IRWXU)
        _open_up_directories(path)
        shutil.rmtree(path)
    else:
        path.unlink()


def _open_up_directories(root: Path) -> None:
    """Through descriptors, never paths: a directory swapped for a link meanwhile is not
    followed out of the workspace."""
    for _, subdirectories, _, parent_fd in os.fwalk(root, follow_symlinks=False):
        for name in subdirectories:
            with contextlib.suppress(OSError):
                fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent_fd)
                try:
                    mode = os.fstat(fd).st_mode
                    if mode & stat.S_IRWXU != stat.S_IRWXU:
                        os.fchmod(fd, stat.S_IMODE(mode) | stat.S_IRWXU)
                finally:
                    os.close(fd)


def give_tree(root: Path, owner: FileOwner) -> None:
    """Make `owner` the owner of `root` and everything in it (links themselves, never what
    they point to)."""
    os.chown(root, owner.uid, owner.gid, follow_symlinks=False)
    for _, directories, files, parent_fd in os.fwalk(root, follow_symlinks=False):
        for name in (*directories, *files):
            os.chown(name, owner.uid, owner.gid, dir_fd=parent_fd, follow_symlinks=False)


class AreaRuntime(Runtime):
    """A runtime whose workspaces are directories under `workspaces_dir` (see the module doc)."""

    def __init__(
        self,
        workspaces_dir: Path,
        *,
        data_dir: Path,
        network: NetworkEnvironment | None = None,
        agents_dir: Path | None = None,
    ) -> None:
        super().__init__(
            workspaces_dir.resolve(),
            data_dir=data_dir.resolve(),
            network=network,
            agents_dir=agents_dir,
        )
        account = pwd.getpwuid(os.getuid())
        self._user = account.pw_name
        self._shell = account.pw_shell if Path(account.pw_shell).is_file() else "/bin/sh"

    @abc.abstractmethod
    async def _populate(self, area: Area, spec: WorkspaceSpec, progress: Progress) -> None:
        """Make `area.repo`, the checkout of `spec.repo` at `spec.branch`; the other directories
        exist already. Raise `RuntimeError_` on failure; the caller removes the area."""

    @abc.abstractmethod
    def _wrap(
        self, area: Area, argv: Sequence[str], cwd: Path, readable: Sequence[Path]
    ) -> tuple[str, ...]:
        """The argv that runs `argv` in the workspace, with `cwd` as its working directory."""

    def _area_for(self, workspace_id: str) -> Area:
        if not _SAFE_ID.fullmatch(workspace_id):
            raise InvalidInput(f"{workspace_id!r} is not a workspace id", reason="invalid_id")
        return Area(self.workspaces_dir / workspace_id)

    def _area_of(self, handle: WorkspaceHandle) -> Area:
        area = self._area_for(handle.workspace_id)
        if handle.repo != area.repo:
            raise InvalidInput(
                f"workspace {handle.workspace_id} does not live in {self.workspaces_dir}",
                reason="foreign_workspace",
            )
        return area

    def resolve(self, area: Area, path: str | Path) -> Path:
        """The absolute path of `path` (relative to the checkout) if it stays inside the
        workspace's area. Symlinks are resolved first, so a link pointing outside is refused
        like `../` is."""
        candidate = Path(path)
        if not candidate.is_absolute():
            candidate = area.repo / candidate
        resolved = candidate.resolve()
        root = area.root.resolve()
        if resolved != root and root not in resolved.parents:
            raise InvalidInput(f"{path} is outside the workspace", reason="path_outside_workspace")
        return resolved

    async def create(self, spec: WorkspaceSpec, progress: Progress) -> WorkspaceHandle:
        """See `Runtime.create`. Not safe to call twice at once for the same id."""
        area = self._area_for(spec.id)
        if area.status() is RuntimeStatus.MISSING:
            await asyncio.to_thread(remove_tree, area.root)
            try:
                area.make_dirs()
                await self._populate(area, spec, progress)
                area.ready_marker.touch()
            except BaseException:
                await asyncio.to_thread(remove_tree, area.root)
                raise
        return WorkspaceHandle(
            workspace_id=spec.id, runtime=self.name, repo=area.repo, home=area.home
        )

    async def start(self, handle: WorkspaceHandle) -> None:
        """See `Runtime.start`. /tmp starts empty, as after a reboot."""
        area = self._area_of(handle)
        status = area.status()
        if status is RuntimeStatus.MISSING:
            raise RuntimeError_(
                f"workspace {handle.workspace_id} is missing on this node",
                reason="workspace_missing",
            )
        if status is RuntimeStatus.STOPPED:
            await asyncio.to_thread(remove_tree, area.tmp)
            area.tmp.mkdir(mode=0o700)
            owner = self._owner(area)
            if owner is not None:
                give_tree(area.tmp, owner)
            area.stopped_marker.unlink(missing_ok=True)

    async def stop(self, handle: WorkspaceHandle) -> None:
        """See `Runtime.stop`: marks the workspace stopped, so `command` refuses it. Killing the
        processes already running is the caller's job (it started them and holds their PIDs)."""
        area = self._area_of(handle)
        if area.status() is RuntimeStatus.RUNNING:
            area.stopped_marker.touch()

    async def delete(self, handle: WorkspaceHandle) -> None:
        """See `Runtime.delete`; the caller stops the processes first."""
        await asyncio.to_thread(remove_tree, self._area_of(handle).root)

    async def status(self, handle: WorkspaceHandle) -> RuntimeStatus:
        return self._area_of(handle).status()

    def command(
        self,
        handle: WorkspaceHandle,
        argv: Sequence[str],
        *,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        readable: Sequence[Path] = (),
        tty: bool = False,
    ) -> ProcessSpec:
        """See `Runtime.command`. Raises `RuntimeError_` unless the workspace is running, and
        `InvalidInput` for a `cwd` outside the workspace.

        The environment is a minimal base, then `env` (the project's variables, sent by the
        control plane with each request and never stored on the node): never the node's own
        environment, which may hold secrets. The caller must start the process in a new session
        (see `corral.node.sandbox`).
        """
        if not argv:
            raise InvalidInput("no command to run", reason="empty_command")
        area = self._area_of(handle)
        status = area.status()
        if status is not RuntimeStatus.RUNNING:
            raise RuntimeError_(
                f"workspace {handle.workspace_id} is {status.value}",
                reason=f"workspace_{status.value}",
            )
        directory = self.resolve(area, cwd) if cwd is not None else area.repo
        return ProcessSpec(
            argv=self._wrap(area, argv, directory, readable),
            env={**self.base_env(area), **(env or {})},
            cwd=directory,
            nice=self.program_nice,
        )

    def files(self, handle: WorkspaceHandle, *, max_read_bytes: int) -> WorkspaceFiles:
        """See `Runtime.files`."""
        area = self._area_of(handle)
        return WorkspaceFiles(
            (area.repo, area.home), owner=self._owner(area), max_read_bytes=max_read_bytes
        )

    def _owner(self, area: Area) -> FileOwner | None:
        """Who owns the workspace's files, when that is not the node's own user."""
        return None

    def base_env(self, area: Area) -> dict[str, str]:
        """What every workspace process gets: the basics, and the node's network variables
        (proxies and trust-store paths, never secrets), so tools reach the network as the node
        itself does."""
        return {
            "PATH": DEFAULT_PATH,
            "LANG": "C.UTF-8",
            "TERM": "xterm-256color",
            "HOME": str(area.home),
            "USER": self._user,
            "LOGNAME": self._user,
            "SHELL": self._shell,
            **self.network.values,
        }
