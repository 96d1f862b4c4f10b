"""The git side of the fake GitHub (tests/support/github_fake.py): bare repositories made and
read with the real `git`, and `git http-backend` run as a CGI program for the smart-HTTP
protocol, so that clones and pushes through the fake are the ones a real forge sees.

Every git here runs with a minimal environment: no system or global config, HOME in the fake's
directory and a fixed identity, so that nothing of the machine's own git setup (a credential
helper, an `insteadOf`, hooks) changes what a test sees.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "CgiAnswer",
    "GitError",
    "git_env",
    "http_backend",
    "init_bare",
    "read_refs",
    "run_git",
    "run_git_async",
]

GIT_TIMEOUT_SECONDS = 30.0
BACKEND_TIMEOUT_SECONDS = 60.0
IDENTITY = {
    "GIT_AUTHOR_NAME": "Fake GitHub",
    "GIT_AUTHOR_EMAIL": "fake-github@example.invalid",
    "GIT_COMMITTER_NAME": "Fake GitHub",
    "GIT_COMMITTER_EMAIL": "fake-github@example.invalid",
}


class GitError(RuntimeError):
    """A git command the fake ran failed; its stderr is the message."""


def git_env(home: Path) -> dict[str, str]:
    """The environment of every git the fake runs: PATH to find git, nothing else inherited."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_TERMINAL_PROMPT": "0",
        "LC_ALL": "C",
        **IDENTITY,
    }


def run_git(
    home: Path, *args: str, cwd: Path | None = None, check: bool = True, raw: bool = False
) -> str:
    """Run git (blocking) and return its stdout, without the trailing newline unless `raw`."""
    result = subprocess.run(
        ["git", *args],
        cwd=cwd,
        env=git_env(home),
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT_SECONDS,
        check=False,
    )
    if check and result.returncode != 0:
        raise GitError(f"git {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout if raw else result.stdout.rstrip("\n")


async def run_git_async(home: Path, *args: str, cwd: Path | None = None) -> tuple[int, str]:
    """Run git from the fake's event loop; (exit code, stdout). Killed and reaped on timeout
    or cancellation, so that a request handler never leaves a process behind."""
    process = await asyncio.create_subprocess_exec(
        "git",
        *args,
        cwd=cwd,
        env=git_env(home),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        stdout, _ = await asyncio.wait_for(process.communicate(), GIT_TIMEOUT_SECONDS)
    finally:
        await _reap(process)
    assert process.returncode is not None
    return process.returncode, stdout.decode(errors="replace").rstrip("\n")


async def _reap(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        # Shielded: a cancelled handler still waits for the kill to land.
        await asyncio.shield(process.wait())


def init_bare(home: Path, path: Path, default_branch: str, files: dict[str, str]) -> None:
    """A bare repository at `path` whose `default_branch` holds one commit of `files`, with
    pushes over HTTP allowed (`http.receivepack`; http-backend refuses them otherwise)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    run_git(home, "init", "--quiet", "--bare", f"--initial-branch={default_branch}", str(path))
    run_git(home, "config", "http.receivepack", "true", cwd=path)
    seed = path.with_name(path.name + ".seed")
    try:
        run_git(home, "init", "--quiet", f"--initial-branch={default_branch}", str(seed))
        for name, content in files.items():
            target = seed / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        run_git(home, "add", "--all", cwd=seed)
        run_git(home, "commit", "--quiet", "--allow-empty", "-m", "Initial commit", cwd=seed)
        run_git(home, "push", "--quiet", str(path), f"HEAD:refs/heads/{default_branch}", cwd=seed)
    finally:
        shutil.rmtree(seed, ignore_errors=True)


async def read_refs(home: Path, path: Path) -> dict[str, str]:
    """Every ref of the bare repository and its sha, to tell what a push changed."""
    code, out = await run_git_async(
        home, "for-each-ref", "--format=%(refname) %(objectname)", cwd=path
    )
    if code != 0:
        return {}
    refs: dict[str, str] = {}
    for line in out.splitlines():
        name, _, sha = line.partition(" ")
        refs[name] = sha
    return refs


@dataclass
class CgiAnswer:
    """What `git http-backend` answered, its CGI headers parsed."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


async def http_backend(
    home: Path,
    project_root: Path,
    *,
    path_info: str,
    method: str,
    query: str,
    body: bytes,
    content_type: str,
    content_encoding: str,
    git_protocol: str,
    remote_user: str,
) -> CgiAnswer:
    """One request through `git http-backend`, as a web server runs a CGI program: the request
    in the environment and on stdin, the answer's headers then body on stdout."""
    env = git_env(home)
    env.update(
        {
            "GIT_PROJECT_ROOT": str(project_root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "PATH_INFO": path_info,
            "REQUEST_METHOD": method,
            "QUERY_STRING": query,
            "CONTENT_TYPE": content_type,
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "SERVER_PROTOCOL": "HTTP/1.1",
        }
    )
    if remote_user:
        env["REMOTE_USER"] = remote_user
    if content_encoding:
        env["HTTP_CONTENT_ENCODING"] = content_encoding
    if git_protocol:
        env["GIT_PROTOCOL"] = git_protocol
    process = await asyncio.create_subprocess_exec(
        "git",
        "http-backend",
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(body), BACKEND_TIMEOUT_SECONDS)
    except TimeoutError:
        return CgiAnswer(504, {"Content-Type": "text/plain"}, b"git http-backend timed out\n")
    finally:
        await _reap(process)
    return _parse_cgi(stdout, stderr)


def _parse_cgi(stdout: bytes, stderr: bytes) -> CgiAnswer:
    for separator in (b"\r\n\r\n", b"\n\n"):
        head, found, body = stdout.partition(separator)
        if found:
            break
    else:
        message = b"git http-backend gave no headers: " + stderr[-2000:]
        return CgiAnswer(500, {"Content-Type": "text/plain"}, message)
    answer = CgiAnswer(200, body=body)
    for line in head.decode("latin-1").splitlines():
        name, _, value = line.partition(":")
        if name.strip().lower() == "status":
            answer.status = int(value.strip().split(" ", 1)[0])
        elif name.strip():
            answer.headers[name.strip()] = value.strip()
    return answer
