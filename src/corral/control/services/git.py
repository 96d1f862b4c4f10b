"""Asking git about a repository without cloning it (`git ls-remote`), and trusting an SSH
server's host key on first contact."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from corral.errors import InvalidInput, RetryableProviderError, TerminalProviderError
from corral.gitenv import GIT_CONFIG_ARGS, git_env, validate_branch
from corral.gitssh import SshIdentity, host_key_problem, ssh_identity
from corral.processes import kill_process_group
from corral.protocol.messages import GitCredential

__all__ = ["check_branch", "redact_repo", "resolve_branch", "trust_host_key"]

_MAX_MESSAGE_CHARS = 500
_CREDENTIALS_IN_URL = re.compile(r"(://)[^/@\s]+@")


async def _ls_remote(
    repo: str,
    *,
    options: tuple[str, ...],
    patterns: tuple[str, ...],
    timeout_seconds: float,
    credential: GitCredential | None,
) -> str:
    if credential is not None and credential.ssh_key is not None:
        async with _ssh(credential.ssh_key, credential.known_hosts or "") as ssh:
            return await _run_ls_remote(
                repo,
                options=options,
                patterns=patterns,
                timeout_seconds=timeout_seconds,
                auth_env=ssh.env(trust_first_use=False),
            )
    auth_args, auth_env = credential.token_options() if credential is not None else ((), {})
    return await _run_ls_remote(
        repo,
        options=options,
        patterns=patterns,
        timeout_seconds=timeout_seconds,
        auth_args=auth_args,
        auth_env=auth_env,
    )


async def trust_host_key(repo: str, *, ssh_key: str, timeout_seconds: float) -> str:
    """Reach `repo` over SSH with `ssh_key`, trusting whatever host key its server shows (trust
    on first use), and return that key's known_hosts lines for the project to pin."""
    async with _ssh(ssh_key, "") as ssh:
        await _run_ls_remote(
            repo,
            options=(),
            patterns=("HEAD",),
            timeout_seconds=timeout_seconds,
            auth_env=ssh.env(trust_first_use=True),
        )
        return ssh.accepted()


@asynccontextmanager
async def _ssh(ssh_key: str, known_hosts: str) -> AsyncIterator[SshIdentity]:
    async with AsyncExitStack() as stack:
        try:
            ssh = await stack.enter_async_context(ssh_identity(ssh_key, known_hosts))
        except OSError as exc:
            raise TerminalProviderError(
                f"could not start ssh-agent on the control plane's machine: {exc}",
                reason="ssh_agent_missing",
            ) from None
        except ValueError as exc:
            raise InvalidInput(
                str(exc), reason="ssh_key_refused", details=[{"field": "body.credential"}]
            ) from None
        yield ssh


async def _run_ls_remote(
    repo: str,
    *,
    options: tuple[str, ...],
    patterns: tuple[str, ...],
    timeout_seconds: float,
    auth_args: tuple[str, ...] = (),
    auth_env: dict[str, str] | None = None,
) -> str:
    try:
        process = await asyncio.create_subprocess_exec(
            "git",
            *GIT_CONFIG_ARGS,
            *auth_args,
            "ls-remote",
            *options,
            "--",
            repo,
            *patterns,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**git_env(), **(auth_env or {})},
            start_new_session=True,
        )
    except FileNotFoundError:
        raise TerminalProviderError(
            "git is not installed on the control plane's machine", reason="git_missing"
        ) from None
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_seconds)
    except TimeoutError:
        raise RetryableProviderError(
            f"git did not answer within {timeout_seconds:g} s for {redact_repo(repo)}",
            reason="repo_timeout",
        ) from None
    finally:
        await kill_process_group(process)
    if process.returncode != 0:
        lines = stderr.decode(errors="replace").splitlines()
        changed = host_key_problem(lines, repo)
        if changed is not None:
            raise InvalidInput(changed, reason="host_key_changed", details=[{"field": "body.repo"}])
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


def check_branch(branch: str, field: str) -> str:
    """`branch` if git would take it as a branch name; else `InvalidInput` naming `field`."""
    problem = validate_branch(branch)
    if problem is not None:
        raise InvalidInput(problem, reason="invalid_branch", details=[{"field": field}])
    return branch


async def resolve_branch(
    repo: str,
    branch: str | None,
    *,
    timeout_seconds: float,
    credential: GitCredential | None = None,
) -> str:
    """Check the repository answers and return `branch`, or its default branch when None."""
    if branch is None:
        out = await _ls_remote(
            repo,
            options=("--symref",),
            patterns=("HEAD",),
            timeout_seconds=timeout_seconds,
            credential=credential,
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
    check_branch(branch, "body.default_branch")
    out = await _ls_remote(
        repo,
        options=("--heads",),
        patterns=(f"refs/heads/{branch}",),
        timeout_seconds=timeout_seconds,
        credential=credential,
    )
    # ls-remote patterns match any tail of a ref, so compare the whole name.
    if not any(line.split("\t")[-1] == f"refs/heads/{branch}" for line in out.splitlines()):
        raise InvalidInput(
            f"the repository {redact_repo(repo)} has no branch {branch!r}",
            reason="branch_not_found",
            details=[{"field": "body.default_branch"}],
        )
    return branch
