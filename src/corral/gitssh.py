"""git over SSH with a user's key: a private `ssh-agent` for one git command, the host key pinned.

An `ssh-key` credential reaches `git@host:path` and `ssh://` remotes. The private key is never
written to a file, an argument or an environment: `ssh-add -` reads it from a pipe into an agent
of our own, listening on a socket in a private (0700) temporary directory, and the agent is
killed as soon as the git command ends. git's ssh reaches the agent through `IdentityAgent`
and nothing else: no ssh config, no key or agent of the machine's user.

The server's host key is checked strictly against the lines the project pinned when it was
added (GitHub's published keys, or what the server showed then: trust on first use). Those are
public keys, written to a file beside the socket for ssh to read. `trust_first_use` is for the
control plane's first contact only: ssh accepts the host's key into an empty file, and
`SshIdentity.accepted()` reads back what it accepted.
"""

from __future__ import annotations

import asyncio
import os
import re
import shlex
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

__all__ = [
    "SshIdentity",
    "SshRemote",
    "host_key_problem",
    "known_hosts_name",
    "parse_ssh_remote",
    "ssh_identity",
]

_START_TIMEOUT_SECONDS = 10.0
_MAX_MESSAGE_CHARS = 300
# scp-like syntax, as git reads it: [user@]host:path, with no slash before the colon.
_SCP_STYLE = re.compile(
    r"^(?:(?P<user>[^@/:]+)@)?(?P<host>[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):(?!//)"
)


@dataclass(frozen=True)
class SshRemote:
    host: str
    port: int | None
    user: str | None
    path: str


def parse_ssh_remote(repo: str) -> SshRemote | None:
    """The parts of an SSH remote (`ssh://[user@]host[:port]/path` or `[user@]host:path`), or
    None when git would not reach `repo` over SSH."""
    if "://" in repo:
        parts = urlsplit(repo)
        if parts.scheme.lower() not in ("ssh", "git+ssh", "ssh+git") or not parts.hostname:
            return None
        try:
            port = parts.port
        except ValueError:
            return None
        return SshRemote(parts.hostname, port, parts.username, parts.path)
    match = _SCP_STYLE.match(repo)
    if match is None or "/" in repo[: match.end()]:
        return None
    host = match["host"].strip("[]")
    return SshRemote(host, None, match["user"], repo[match.end() :])


def known_hosts_name(host: str, port: int | None) -> str:
    """How known_hosts names a host: `host`, or `[host]:port` off port 22."""
    return host if port in (None, 22) else f"[{host}]:{port}"


def host_key_problem(lines: Iterable[str], repo: str) -> str | None:
    """A message for the user when ssh refused the server's host key (in ssh's stderr
    `lines`), else None."""
    text = "\n".join(lines)
    if "Host key verification failed" not in text and "HOST IDENTIFICATION HAS CHANGED" not in text:
        return None
    remote = parse_ssh_remote(repo)
    host = known_hosts_name(remote.host, remote.port) if remote else "the server"
    return (
        f"the host key of {host} changed since the project was added, or is not the one pinned "
        "for it (GitHub's published keys): another machine may be answering in its place, so "
        "Corral refused to connect. If the server's key really changed, add the project again "
        "to trust its new key"
    )


class SshIdentity:
    """What one git command needs to use the key: `env` for git, and after a first contact
    (`trust_first_use`) the host key lines ssh accepted."""

    def __init__(self, socket: Path, known_hosts: Path) -> None:
        self.known_hosts = known_hosts
        self._options = [
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=no",
            # No key file at all (not even ~/.ssh/id_*): only the agent's one key.
            "-o",
            "IdentityFile=/dev/null",
            "-o",
            f"IdentityAgent={socket}",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
            "-o",
            "GlobalKnownHostsFile=/dev/null",
            "-o",
            "UpdateHostKeys=no",
            "-o",
            "CheckHostIP=no",
        ]

    def env(self, *, trust_first_use: bool) -> dict[str, str]:
        strict = "accept-new" if trust_first_use else "yes"
        command = ["ssh", *self._options, "-o", f"StrictHostKeyChecking={strict}"]
        return {"GIT_SSH_COMMAND": shlex.join(command), "GIT_SSH_VARIANT": "ssh"}

    def accepted(self) -> str:
        """The known_hosts lines in the file now (what ssh accepted on first use)."""
        lines = self.known_hosts.read_text().splitlines()
        return "".join(f"{line.strip()}\n" for line in lines if line.strip())


@asynccontextmanager
async def ssh_identity(private_key: str, known_hosts: str) -> AsyncIterator[SshIdentity]:
    """An agent holding `private_key`, and a known_hosts file of `known_hosts`, for the block.

    Raises `OSError` when OpenSSH's client (`ssh-agent`, `ssh-add`) is missing, and
    `ValueError` (with ssh-add's words) when the agent refuses the key (one with a passphrase,
    say). The agent is killed and the directory removed on the way out, however it is left."""
    directory = Path(tempfile.mkdtemp(prefix="corral-ssh-"))  # mode 0700
    socket = directory / "agent.sock"
    known = directory / "known_hosts"
    known.write_text(known_hosts)
    env = {"PATH": os.environ.get("PATH", os.defpath), "LC_ALL": "C"}
    agent: asyncio.subprocess.Process | None = None
    try:
        agent = await asyncio.create_subprocess_exec(
            "ssh-agent",
            "-D",
            "-a",
            str(socket),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        await _wait_for_socket(agent, socket)
        adder = await asyncio.create_subprocess_exec(
            "ssh-add",
            "-q",
            "-",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env={**env, "SSH_AUTH_SOCK": str(socket), "SSH_ASKPASS_REQUIRE": "never"},
            start_new_session=True,
        )
        _, stderr = await asyncio.wait_for(
            adder.communicate(private_key.encode()), _START_TIMEOUT_SECONDS
        )
        if adder.returncode != 0:
            said = " ".join(stderr.decode(errors="replace").split())[:_MAX_MESSAGE_CHARS]
            raise ValueError(f"ssh-add refused the key: {said or 'no reason given'}")
        yield SshIdentity(socket, known)
    finally:
        if agent is not None and agent.returncode is None:
            with suppress(ProcessLookupError):
                agent.kill()
            await agent.wait()
        shutil.rmtree(directory, ignore_errors=True)


async def _wait_for_socket(agent: asyncio.subprocess.Process, socket: Path) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _START_TIMEOUT_SECONDS
    while not await asyncio.to_thread(socket.exists):
        if agent.returncode is not None or loop.time() > deadline:
            raise OSError("ssh-agent did not start")
        await asyncio.sleep(0.02)
