"""Making a workspace's checkout: `git clone` of the project's repository, run by the node.

The clone runs outside any sandbox or container, as any git client would, so a project may name
a local repository anywhere the node can read; one inside the node's data or workspaces
directory is refused, or a workspace could clone another workspace's checkout. git runs with
`corral.gitenv`'s environment: it never prompts and never uses the host user's git credentials.
A private repository (`WorkspaceSpec.authenticated`) is cloned with the credential the control
plane hands out for this one clone (`git.credential`): a token through
`corral.gitenv.credential_helper`, in git's environment for the clone only; an SSH key through a
private agent for the clone (`corral.gitssh`), checking the host key the project pinned. Neither
is ever in the checkout's config or a file. The checkout
gets the workspace's git identity, so the agent's commits name their author. Its progress lines
reach the provisioning log; a failure says what git said.
"""

from __future__ import annotations

import asyncio
import codecs
import re
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from corral.gitenv import GIT_CONFIG_ARGS, git_env
from corral.gitssh import host_key_problem, ssh_identity
from corral.netenv import NetworkEnvironment
from corral.node.runtimes._area import Area
from corral.node.runtimes.base import CredentialSource, Progress, RuntimeError_
from corral.processes import run_tool
from corral.protocol.messages import GitCredential, WorkspaceSpec

__all__ = [
    "LineSplitter",
    "clone_checkout",
    "git_auth",
    "redact",
    "write_files",
]

_MAX_LINE_CHARS = 4000
_MAX_MESSAGE_CHARS = 500
_KEPT_LINES = 50
# The same rule as corral.control.services.git.redact_repo; the node does not import the control
# plane, so it is repeated here.
_CREDENTIALS_IN_URL = re.compile(r"(://)[^/@\s]+@")


async def clone_checkout(
    spec: WorkspaceSpec,
    area: Area,
    *,
    network: NetworkEnvironment,
    timeout_seconds: float,
    forbidden: Sequence[Path],
    progress: Progress,
    files: bool = True,
    credentials: CredentialSource | None = None,
) -> None:
    """Clone `spec.repo` at `spec.branch` into `area.repo` (which must not exist yet).
    `forbidden` are the node's own directories, which no repository may be in. Without
    `files`, only the repository is made: `write_files` writes the checkout's files later, so
    the caller can read the commit (`git ls-tree`) and start other work meanwhile."""
    _refuse_own_directories(spec.repo, area.root, forbidden)
    credential = await _fetch_credential(spec, credentials)
    async with git_auth(credential) as (auth_args, auth_env):
        argv = ["git", *GIT_CONFIG_ARGS, *auth_args, "clone", f"--branch={spec.branch}"]
        argv.append("--single-branch")
        if not files:
            argv.append("--no-checkout")
        argv += ["--progress", "--", spec.repo, area.repo.name]
        env = {**git_env(network.tool_env()), **auth_env}
        await _clone(
            argv,
            env=env,
            cwd=area.root,
            progress=progress,
            timeout_seconds=timeout_seconds,
            repo=spec.repo,
        )
    if spec.identity is not None:
        # The clone is the node's own, fresh from the remote: its config holds nothing hostile.
        for key, value in (("user.name", spec.identity.name), ("user.email", spec.identity.email)):
            config = ["git", *GIT_CONFIG_ARGS, "-C", str(area.repo), "config", key, value]
            await _clone(
                config, env=git_env(), cwd=area.root, progress=progress, timeout_seconds=30
            )


async def _fetch_credential(
    spec: WorkspaceSpec, credentials: CredentialSource | None
) -> GitCredential:
    if not spec.authenticated:
        return GitCredential()
    if credentials is None:
        raise RuntimeError_(
            "the repository needs a credential, and this node is not linked to the control "
            "plane that has it",
            reason="clone_failed",
        )
    return await credentials(spec.id)


@asynccontextmanager
async def git_auth(
    credential: GitCredential,
) -> AsyncIterator[tuple[tuple[str, ...], dict[str, str]]]:
    """git's options and environment for `credential`, for one command run in the block: a
    token through `GitCredential.token_options`, an SSH key through a private agent
    (`corral.gitssh`)."""
    if credential.ssh_key is None:
        yield credential.token_options()
        return
    async with AsyncExitStack() as stack:
        try:
            ssh = await stack.enter_async_context(
                ssh_identity(credential.ssh_key, credential.known_hosts or "")
            )
        except OSError as exc:
            raise RuntimeError_(
                f"could not start ssh-agent for the SSH key (is OpenSSH's client installed?): "
                f"{exc}",
                reason="git_unavailable",
            ) from None
        except ValueError as exc:
            raise RuntimeError_(str(exc), reason="clone_failed") from None
        yield (), ssh.env(trust_first_use=False)


async def write_files(
    area: Area, *, network: NetworkEnvironment, timeout_seconds: float, progress: Progress
) -> None:
    """Write the files of a checkout cloned without them (`clone_checkout(files=False)`)."""
    argv = ["git", *GIT_CONFIG_ARGS, "-C", str(area.repo), "reset", "--hard", "--quiet"]
    env = git_env(network.tool_env())
    await _clone(argv, env=env, cwd=area.root, progress=progress, timeout_seconds=timeout_seconds)


def _refuse_own_directories(repo: str, cwd: Path, forbidden: Sequence[Path]) -> None:
    path = _local_path(repo, cwd)
    if path is None:
        return
    for directory in forbidden:
        if path == directory or directory in path.parents:
            raise RuntimeError_(
                f"the repository {redact(repo)} is inside this node's own directory {directory}",
                reason="repo_forbidden",
            )


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
    timeout_seconds: float,
    repo: str | None = None,
) -> None:
    """Run `git clone`, feeding its progress lines to `progress`; kill it at the timeout.
    `repo`: the remote, to name its host when ssh refused the host's key."""
    kept: deque[str] = deque(maxlen=_KEPT_LINES)
    try:
        exit_code = await run_tool(
            argv,
            env=env,
            cwd=cwd,
            read=lambda stderr: _read_lines(stderr, progress, kept),
            timeout_seconds=timeout_seconds,
        )
    except TimeoutError:  # before OSError, of which it is one
        raise RuntimeError_(
            f"git clone did not finish within {timeout_seconds:g} s",
            reason="clone_timeout",
        ) from None
    except OSError as exc:
        raise RuntimeError_(
            f"could not start git: {exc.strerror or exc}", reason="git_unavailable"
        ) from exc
    if exit_code != 0:
        changed = host_key_problem(kept, repo) if repo is not None else None
        if changed is not None:
            raise RuntimeError_(changed, reason="host_key_changed")
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
