"""Asking git about a repository without cloning it (`git ls-remote`)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re

from corral.errors import InvalidInput, RetryableProviderError

__all__ = ["resolve_branch"]

# Never wait on a password prompt or an unknown host key: fail at once with git's message.
_GIT_ENV = {
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_ASKPASS": "true",
    "SSH_ASKPASS": "true",
    "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o StrictHostKeyChecking=accept-new",
    "LC_ALL": "C",
}
_MAX_MESSAGE_CHARS = 500
_CREDENTIALS_IN_URL = re.compile(r"(://)[^/@\s]+@")


async def _ls_remote(
    repo: str, *, options: tuple[str, ...], patterns: tuple[str, ...], timeout_seconds: float
) -> str:
    env = {**os.environ, **_GIT_ENV}
    process = await asyncio.create_subprocess_exec(
        "git",
        "ls-remote",
        *options,
        "--",
        repo,
        *patterns,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_seconds)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()
        raise RetryableProviderError(
            f"git did not answer within {timeout_seconds:g} s for {redact_repo(repo)}",
            reason="repo_timeout",
        ) from None
    if process.returncode != 0:
        lines = stderr.decode(errors="replace").splitlines()
        message = " ".join(line.strip() for line in lines if line.strip())[:_MAX_MESSAGE_CHARS]
        raise InvalidInput(
            f"the repository {redact_repo(repo)} is not reachable: "
            f"{redact_repo(message) or 'git failed'}",
            reason="repo_unreachable",
            details=[{"field": "body.repo"}],
        )
    return stdout.decode(errors="replace")


def redact_repo(repo: str) -> str:
    """The repository URL without any user:password part, fit for messages and logs."""
    return _CREDENTIALS_IN_URL.sub(r"\1***@", repo)


async def resolve_branch(repo: str, branch: str | None, *, timeout_seconds: float) -> str:
    """Check the repository answers and return `branch`, or its default branch when None."""
    if branch is None:
        out = await _ls_remote(
            repo, options=("--symref",), patterns=("HEAD",), timeout_seconds=timeout_seconds
        )
        for line in out.splitlines():
            if line.startswith("ref: refs/heads/") and line.endswith("\tHEAD"):
                return line.removeprefix("ref: refs/heads/").removesuffix("\tHEAD")
        raise InvalidInput(
            f"the repository {redact_repo(repo)} has no default branch (is it empty?); "
            "name a branch",
            reason="no_default_branch",
            details=[{"field": "body.default_branch"}],
        )
    out = await _ls_remote(
        repo,
        options=("--heads",),
        patterns=(f"refs/heads/{branch}",),
        timeout_seconds=timeout_seconds,
    )
    if not out.strip():
        raise InvalidInput(
            f"the repository {redact_repo(repo)} has no branch {branch!r}",
            reason="branch_not_found",
            details=[{"field": "body.default_branch"}],
        )
    return branch
