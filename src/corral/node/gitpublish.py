"""Publishing a workspace's work: commit what the agent left uncommitted, push it as a branch.

Every git command runs inside the workspace (its sandbox or container, as its user), never as
the node: the checkout is the workspace's, and its `.git/config` can name hooks, filters and
commands that would run as whoever runs git there. The push gets the credential the control
plane sends with the request (an App's token narrowed to this repository, revoked once the push
is done) in its environment only, through `corral.gitenv.credential_helper`, which answers only
for the remote's host: a config that rewrites the URL to another host gets nothing. Hooks are off
for both commands: the commit is Corral's, and a pre-push hook would run beside the token.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from corral.node.runtimes.base import Runtime, RuntimeError_, WorkspaceHandle
from corral.node.runtimes.gitclone import redact
from corral.protocol.messages import WorkspacePublish, WorkspacePublished

__all__ = ["publish"]

_MAX_FILES = 1000
_MAX_MESSAGE_CHARS = 500
# No prompt, no pager, no user-wide config of the workspace's user steering Corral's commands.
_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_ASKPASS": "true", "GIT_PAGER": "cat", "LC_ALL": "C"}
_NO_HOOKS = ("-c", "core.hooksPath=/dev/null", "-c", "credential.helper=")


async def publish(
    runtime: Runtime,
    handle: WorkspaceHandle,
    request: WorkspacePublish,
    *,
    timeout_seconds: float,
) -> WorkspacePublished:
    async def git(
        *args: str, env: Mapping[str, str] | None = None, what: str, check: bool = True
    ) -> str:
        result = await runtime.exec(
            handle,
            ["git", *_NO_HOOKS, *args],
            timeout_seconds=timeout_seconds,
            env={**_ENV, **(env or {})},
        )
        if check and result.exit_code != 0:
            raise RuntimeError_(f"{what} failed: {_said(result.stderr)}", reason="publish_failed")
        return result.stdout.decode(errors="replace") if result.exit_code == 0 else ""

    if request.credential.ssh_key is not None:
        # The push runs inside the workspace, where a key (or an agent's socket) would be
        # within the agent's reach; the control plane refuses this before asking.
        raise RuntimeError_(
            "pushing over SSH is not supported yet; use a github token or the GitHub App",
            reason="publish_failed",
        )
    identity = request.identity
    author = ("-c", f"user.name={identity.name}", "-c", f"user.email={identity.email}")
    await git("add", "--all", what="git add")
    staged = await runtime.exec(
        handle,
        ["git", *_NO_HOOKS, "diff", "--cached", "--quiet"],
        timeout_seconds=timeout_seconds,
        env=_ENV,
    )
    committed = staged.exit_code == 1
    if committed:
        await git(
            *author, "commit", "--quiet", "--no-verify", "-m", request.message, what="git commit"
        )
    commit = (await git("rev-parse", "HEAD", what="git rev-parse")).strip()
    auth_args, auth_env = request.credential.token_options()
    await git(
        *auth_args,
        "push",
        "--quiet",
        "--",
        request.remote,
        f"HEAD:refs/heads/{request.branch}",
        env=auth_env,
        what="git push",
    )
    changed = await git(
        "diff",
        "--name-only",
        f"refs/remotes/origin/{request.base}...HEAD",
        what="git diff",
        check=False,
    )
    return WorkspacePublished(commit=commit, committed=committed, files=_files(changed))


def _files(listing: str) -> list[str]:
    return [line[:4096] for line in listing.splitlines() if line.strip()][:_MAX_FILES]


def _said(stderr: bytes) -> str:
    lines: Sequence[str] = [
        line.strip() for line in stderr.decode(errors="replace").splitlines() if line.strip()
    ]
    errors = [line for line in lines if line.startswith(("fatal:", "error:", "remote:", "!"))]
    text = " ".join(errors or lines[-3:]) or "git said nothing"
    return redact(text)[:_MAX_MESSAGE_CHARS]
