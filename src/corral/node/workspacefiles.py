"""A workspace's files, read and written by the node on an agent's behalf (ACP's `fs/*`).

Every path an agent names is hostile input, and so is everything in the workspace: its processes
may swap any file or directory for a symlink at any moment. So nothing here checks a path and
then opens it. Each path is opened with `openat2(RESOLVE_BENEATH)` relative to a descriptor of
one of the workspace's directories (the checkout or its HOME), and the kernel refuses any
resolution that would lead out of it, however the tree changes meanwhile. Directories are made
one level at a time under descriptors obtained the same way.

Only regular files are read or written: a FIFO would block the node, a device is not a file.
Reads are bounded. When the node runs as root, what it creates is given to the workspace's own
user, as if that user had made it.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

from corral.errors import CorralError, InvalidInput, NotFound
from corral.node.openat2 import openat2

__all__ = ["DEFAULT_MAX_READ_BYTES", "FileOwner", "WorkspaceFiles"]

DEFAULT_MAX_READ_BYTES = 32 * 1024 * 1024
_READ_CHUNK_BYTES = 1024 * 1024
_NEW_FILE_MODE = 0o644
_NEW_DIRECTORY_MODE = 0o755


class FileOwner(NamedTuple):
    """The user and group that own a workspace's files on the host."""

    uid: int
    gid: int


class WorkspaceFiles:
    """Files under `roots` (absolute, resolved directories of one workspace on the node; the
    first is where relative paths start). `seen_as` names each root as the workspace's own
    processes see it (in a container, its mount point), if not by its path on the node: paths
    come in those terms. `owner`, when given, receives what is created."""

    def __init__(
        self,
        roots: Sequence[Path],
        *,
        seen_as: Sequence[Path] | None = None,
        owner: FileOwner | None = None,
        max_read_bytes: int = DEFAULT_MAX_READ_BYTES,
    ) -> None:
        if not roots:
            raise ValueError("a workspace has at least one directory")
        if seen_as is not None and len(seen_as) != len(roots):
            raise ValueError("seen_as names each root once")
        self.roots = tuple(roots)
        self.seen_as = tuple(seen_as) if seen_as is not None else self.roots
        self.owner = owner
        self.max_read_bytes = max_read_bytes

    # -- the operations ------------------------------------------------------------------------

    def read_text(self, path: str, *, line: int | None = None, limit: int | None = None) -> str:
        """The file's text (undecodable bytes replaced), from 1-based `line`, at most `limit`
        lines. Raises `NotFound` for a missing file, `InvalidInput` for anything else."""
        data = self.read_bytes(path)
        text = data.decode(errors="replace")
        if line is None and limit is None:
            return text
        lines = text.splitlines(keepends=True)
        start = max((line or 1) - 1, 0)
        end = start + limit if limit is not None else None
        return "".join(lines[start:end])

    def read_bytes(self, path: str) -> bytes:
        root, relative = self._locate(path)
        fd = self._open(path, root, relative, os.O_RDONLY | os.O_NOCTTY | os.O_NONBLOCK)
        try:
            info = os.fstat(fd)
            _require_regular(path, info)
            if info.st_size > self.max_read_bytes:
                raise InvalidInput(
                    f"{path} is {info.st_size} bytes; files over {self.max_read_bytes} bytes "
                    "are not read",
                    reason="file_too_large",
                )
            chunks: list[bytes] = []
            size = 0
            # The size may grow while we read: stop at the bound whatever fstat said.
            while chunk := os.read(fd, _READ_CHUNK_BYTES):
                size += len(chunk)
                if size > self.max_read_bytes:
                    raise InvalidInput(
                        f"{path} grew past {self.max_read_bytes} bytes while it was read",
                        reason="file_too_large",
                    )
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise _refused(path, "read", exc) from None
        finally:
            os.close(fd)

    def write_text(self, path: str, content: str) -> None:
        """Replace (or create) the file with `content`, making its directories as needed."""
        root, relative = self._locate(path)
        parent, _, name = relative.rpartition("/")
        if name in ("", ".", ".."):
            raise InvalidInput(f"{path} does not name a file", reason="not_a_file")
        self._make_dirs(path, root, parent)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOCTTY | os.O_NONBLOCK
        fd = self._open(path, root, relative, flags, _NEW_FILE_MODE)
        try:
            info = os.fstat(fd)
            _require_regular(path, info)
            self._give(fd, info)
            data = memoryview(content.encode())
            while data:
                written = os.write(fd, data)
                data = data[written:]
        except OSError as exc:
            raise _refused(path, "write", exc) from None
        finally:
            os.close(fd)

    def make_dirs(self, path: str) -> None:
        """Make the directory `path` and its missing parents (an existing one is fine)."""
        root, relative = self._locate(path)
        self._make_dirs(path, root, relative)

    def exists(self, path: str) -> bool:
        """Whether `path` names something inside the workspace (outside: `InvalidInput`)."""
        root, relative = self._locate(path)
        try:
            fd = self._open(path, root, relative, os.O_PATH)
        except NotFound:
            return False
        os.close(fd)
        return True

    # -- how ------------------------------------------------------------------------------------

    def _locate(self, path: str) -> tuple[Path, str]:
        """Which root `path` is under, and the path relative to it. Only the text is looked at:
        the kernel decides, when opening, whether the rest stays inside."""
        if not path or "\0" in path:
            raise InvalidInput("a file path must be a non-empty string", reason="invalid_path")
        absolute = path if path.startswith("/") else f"{self.seen_as[0]}/{path}"
        for root, seen in zip(self.roots, self.seen_as, strict=True):
            prefix = str(seen)
            if absolute == prefix:
                return root, "."
            if absolute.startswith(prefix + "/"):
                return root, absolute[len(prefix) + 1 :].strip("/") or "."
        raise _outside(path)

    def _open(self, path: str, root: Path, relative: str, flags: int, mode: int = 0) -> int:
        root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            return openat2(root_fd, relative, flags, mode)
        except OSError as exc:
            raise _refused(path, "open", exc) from None
        finally:
            os.close(root_fd)

    def _make_dirs(self, path: str, root: Path, relative: str) -> None:
        parts = [part for part in relative.split("/") if part not in ("", ".")]
        for depth in range(len(parts)):
            here = "/".join(parts[: depth + 1])
            try:
                os.close(self._open(path, root, here, os.O_PATH | os.O_DIRECTORY))
                continue
            except NotFound:
                pass
            parent_fd = self._open(path, root, "/".join(parts[:depth]) or ".", os.O_PATH)
            try:
                os.mkdir(parts[depth], _NEW_DIRECTORY_MODE, dir_fd=parent_fd)
            except FileExistsError:
                continue  # made meanwhile (or `..`): the next open checks where it leads
            except OSError as exc:
                raise _refused(path, "make a directory for", exc) from None
            finally:
                os.close(parent_fd)
            if self.owner is not None:
                fd = self._open(path, root, here, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
                try:
                    self._give(fd, os.fstat(fd))
                finally:
                    os.close(fd)

    def _give(self, fd: int, info: os.stat_result) -> None:
        if self.owner is not None and (info.st_uid, info.st_gid) != self.owner:
            os.fchown(fd, self.owner.uid, self.owner.gid)


def _require_regular(path: str, info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
        raise InvalidInput(f"{path} is {kind}", reason="not_a_file")


def _outside(path: str) -> InvalidInput:
    return InvalidInput(f"{path} is outside the workspace", reason="path_outside_workspace")


def _refused(path: str, doing: str, exc: OSError) -> CorralError:
    """An OS error as the agent should read it; never a traceback."""
    if exc.errno == errno.ENOENT:
        return NotFound(f"{path} does not exist", reason="file_not_found")
    if exc.errno == errno.EXDEV:
        return _outside(path)
    if exc.errno == errno.ELOOP:
        return InvalidInput(
            f"{path} leads through a link the node does not follow", reason="path_outside_workspace"
        )
    if exc.errno == errno.ENXIO:
        return InvalidInput(f"{path} is not a regular file", reason="not_a_file")
    return InvalidInput(f"cannot {doing} {path}: {exc.strerror}", reason="file_refused")
