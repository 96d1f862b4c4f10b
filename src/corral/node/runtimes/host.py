"""The `host` runtime: a workspace is a git clone in a directory on the node, and its processes
run on the node itself, confined by bubblewrap where it works (see `corral.node.sandbox`).

This is the embedded default (`corral up`) and needs nothing but git, so it is the one every node
can offer. The clone runs outside the sandbox, as any git client would, so a project may name a
local repository anywhere the node can read; one inside the node's data or workspaces directory
is refused, or a workspace could clone another workspace's checkout. git runs with
`corral.gitenv`'s environment: it never prompts and never uses the host user's git credentials.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import re
import shutil
from collections import deque
from collections.abc import Sequence
from pathlib import Path
from typing import ClassVar, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, field_validator

from corral.gitenv import GIT_CONFIG_ARGS, git_env
from corral.node import sandbox
from corral.node.runtimes._area import Area, AreaRuntime
from corral.node.runtimes.base import Progress, RuntimeError_
from corral.processes import kill_process_group
from corral.protocol.messages import WorkspaceSpec

__all__ = ["HostRuntime", "HostRuntimeSettings"]

log = logging.getLogger("corral.runtimes")

DEFAULT_HIDDEN_PATHS = (
    "/root",
    "/home",
    "/run/user",
    "/etc/shadow",
    "/etc/gshadow",
    "/etc/ssh/ssh_host_*_key",
    "/var/lib/cloud",
    "/run/docker.sock",
    "/var/run/docker.sock",
    "/run/containerd",
    "/run/podman",
)

_MAX_LINE_CHARS = 4000
_MAX_MESSAGE_CHARS = 500
_KEPT_LINES = 50
# The same rule as corral.control.services.git.redact_repo; the node does not import the control
# plane, so it is repeated here.
_CREDENTIALS_IN_URL = re.compile(r"(://)[^/@\s]+@")


class HostRuntimeSettings(BaseModel):
    sandbox: Literal["auto", "bwrap", "none"] = Field(
        "auto",
        description=(
            "How workspace processes are confined: `bwrap` (bubblewrap; the node refuses to start "
            "if it cannot work here), `none` (they run as the node's user, seeing all it sees), "
            "or `auto` (bubblewrap when it works, else none, with a warning)."
        ),
    )
    clone_timeout_seconds: float = Field(
        600.0, gt=0, description="How long the `git clone` that makes a workspace may take."
    )
    hidden_paths: list[str] = Field(
        default_factory=lambda: list(DEFAULT_HIDDEN_PATHS),
        description=(
            "Absolute paths or glob patterns hidden from sandboxed processes, on top of the node's "
            "data and workspaces directories (always hidden): home directories, password hashes, "
            "SSH host keys, cloud-init user data and container engine sockets by default. "
            "Setting it replaces the list."
        ),
    )

    also_hidden_paths: list[str] = Field(
        default_factory=list,
        description="Paths hidden on top of `hidden_paths` (e.g. the control plane's data "
        "directory, which `corral up` hides from its local node's workspaces).",
    )

    @field_validator("hidden_paths", "also_hidden_paths")
    @classmethod
    def _absolute(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not path.startswith("/") or Path(path) == Path("/"):
                raise ValueError(f"a hidden path must be absolute and not /: {path!r}")
        return paths


class HostRuntime(AreaRuntime):
    """Workspaces as directories under `workspaces_dir`, hiding `data_dir` from their processes."""

    name: ClassVar[str] = "host"
    settings_model: ClassVar[type[BaseModel]] = HostRuntimeSettings

    def __init__(
        self,
        workspaces_dir: Path,
        *,
        data_dir: Path,
        settings: HostRuntimeSettings | None = None,
    ) -> None:
        super().__init__(workspaces_dir, data_dir=data_dir)
        self.settings = settings or HostRuntimeSettings()
        self._bwrap = _find_bwrap(self.settings.sandbox)
        self.sandboxed = self._bwrap is not None
        self._hidden = (
            str(self.data_dir),
            str(self.workspaces_dir),
            *self.settings.hidden_paths,
            *self.settings.also_hidden_paths,
        )

    def _wrap(
        self, area: Area, argv: Sequence[str], cwd: Path, readable: Sequence[Path]
    ) -> tuple[str, ...]:
        if self._bwrap is None:
            return tuple(argv)
        return sandbox.bwrap_argv(
            argv,
            writable=(area.repo, area.home),
            readable=readable,
            tmp=area.tmp,
            cwd=cwd,
            hidden=self._hidden,
            bwrap=self._bwrap,
        )

    async def _populate(self, area: Area, spec: WorkspaceSpec, progress: Progress) -> None:
        self._refuse_own_directories(spec.repo, area.root)
        argv = ["git", *GIT_CONFIG_ARGS, "clone", f"--branch={spec.branch}", "--single-branch"]
        argv += ["--progress", "--", spec.repo, area.repo.name]
        await _clone(argv, env=git_env(), cwd=area.root, progress=progress, settings=self.settings)

    def _refuse_own_directories(self, repo: str, cwd: Path) -> None:
        path = _local_path(repo, cwd)
        if path is None:
            return
        for directory in (self.data_dir, self.workspaces_dir):
            if path == directory or directory in path.parents:
                raise RuntimeError_(
                    f"the repository {redact(repo)} is inside this node's own directory "
                    f"{directory}",
                    reason="repo_forbidden",
                )


def _find_bwrap(choice: Literal["auto", "bwrap", "none"]) -> str | None:
    """The bwrap executable to confine processes with, or None to run them unconfined."""
    if choice == "none":
        return None
    problem = sandbox.bwrap_problem()
    if problem is None:
        # The full path: a child's PATH (ours is minimal) decides where its argv[0] is looked up.
        return shutil.which(sandbox.BWRAP) or sandbox.BWRAP
    if choice == "bwrap":
        raise RuntimeError_(
            f"the host runtime's sandbox is set to bwrap, but {problem}",
            reason="sandbox_unavailable",
        )
    log.warning("workspace processes on this node will run without a sandbox: %s", problem)
    return None


def _local_path(repo: str, cwd: Path) -> Path | None:
    """Where `repo` is on this machine if git would read it as a local path (git's own rule:
    `file://`, or no colon before the first slash), else None."""
    if repo.startswith("file://"):
        return Path(unquote(urlsplit(repo).path)).resolve()
    if "://" in repo:
        return None
    colon, slash = repo.find(":"), repo.find("/")
    if colon != -1 and (slash == -1 or colon < slash):
        return None
    return (cwd / repo).resolve()


def redact(text: str) -> str:
    return _CREDENTIALS_IN_URL.sub(r"\1***@", text)


async def _clone(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: Path,
    progress: Progress,
    settings: HostRuntimeSettings,
) -> None:
    """Run `git clone`, feeding its progress lines to `progress`; kill it at the timeout."""
    try:
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
    except OSError as exc:
        raise RuntimeError_(
            f"could not start git: {exc.strerror or exc}", reason="git_unavailable"
        ) from exc
    kept: deque[str] = deque(maxlen=_KEPT_LINES)
    try:
        async with asyncio.timeout(settings.clone_timeout_seconds):
            assert process.stderr is not None
            await _read_lines(process.stderr, progress, kept)
            exit_code = await process.wait()
    except TimeoutError:
        raise RuntimeError_(
            f"git clone did not finish within {settings.clone_timeout_seconds:g} s",
            reason="clone_timeout",
        ) from None
    finally:
        await kill_process_group(process)
    if exit_code != 0:
        raise RuntimeError_(_failure_message(kept, exit_code), reason="clone_failed")


async def _read_lines(stream: asyncio.StreamReader, progress: Progress, kept: deque[str]) -> None:
    splitter = LineSplitter()
    while chunk := await stream.read(65536):
        for line in splitter.feed(chunk):
            kept.append(line)
            progress(line)
    for line in splitter.close():
        kept.append(line)
        progress(line)


def _failure_message(lines: deque[str], exit_code: int) -> str:
    """git's own complaint on one line: its `fatal:` and `error:` lines, else its last line."""
    errors = [line for line in lines if line.startswith(("fatal:", "error:"))]
    message = " ".join(errors) or (lines[-1] if lines else f"git clone exited with {exit_code}")
    return message[:_MAX_MESSAGE_CHARS]


class LineSplitter:
    """Splits a byte stream into lines at `\\r` as well as `\\n` (git redraws its progress line
    with `\\r`), decoding UTF-8 across chunk edges and bounding a line's length."""

    def __init__(self, max_chars: int = _MAX_LINE_CHARS) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._max_chars = max_chars

    def feed(self, data: bytes) -> list[str]:
        *lines, self._pending = re.split(r"[\r\n]", self._pending + self._decoder.decode(data))
        if len(self._pending) >= self._max_chars:
            lines.append(self._pending)
            self._pending = ""
        return self._clean(lines)

    def close(self) -> list[str]:
        rest = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        return self._clean([rest])

    def _clean(self, lines: list[str]) -> list[str]:
        return [redact(line.strip())[: self._max_chars] for line in lines if line.strip()]
