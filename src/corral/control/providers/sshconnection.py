"""One SSH connection of the SSH provider: logging in with the user's key, checking the server's
host key, running commands and uploading files, with asyncssh's errors translated.

Host keys are trusted on first use: with no key recorded for the server, the one it presents is
accepted and handed back for the caller to record; with one recorded, any other key is refused
before anything is sent, authentication included. A refusal names both fingerprints.

No secret ever reaches a command line (other users of the server can read those) or a message:
files carry them, over SFTP, and errors name keys by their public fingerprints only.
"""

from __future__ import annotations

import asyncio
import shlex
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncssh

from corral.control.providers.base import ProviderError

__all__ = ["HostKey", "SshConnection", "load_private_key", "parse_host_key"]

_SHOWN_OUTPUT_LINES = 15


@dataclass(frozen=True)
class HostKey:
    public_key: str
    """OpenSSH format, without a comment: `ssh-ed25519 AAAA…`."""
    fingerprint: str
    """`SHA256:…`, as `ssh-keygen -lf` and `ssh` show it."""

    @classmethod
    def of(cls, key: asyncssh.SSHKey) -> HostKey:
        text = key.export_public_key("openssh").decode().split()
        return cls(" ".join(text[:2]), key.get_fingerprint("sha256"))


def load_private_key(secret: str) -> asyncssh.SSHKey:
    """The private key of an `ssh-key` credential (OpenSSH or PEM format); the errors say what
    is wrong without quoting any of it."""
    try:
        return asyncssh.import_private_key(secret)
    except asyncssh.KeyEncryptionError:
        raise ProviderError(
            "the SSH key is protected by a passphrase; store a key without one",
            retryable=False,
            reason="ssh_key_invalid",
        ) from None
    except (asyncssh.KeyImportError, ValueError, TypeError):
        raise ProviderError(
            "the SSH key credential does not hold a private key in OpenSSH or PEM format",
            retryable=False,
            reason="ssh_key_invalid",
        ) from None


def parse_host_key(text: str) -> asyncssh.SSHKey:
    try:
        return asyncssh.import_public_key(text)
    except (asyncssh.KeyImportError, ValueError) as exc:
        raise ProviderError(
            f"the recorded host key is not an OpenSSH public key: {exc}",
            retryable=False,
            reason="ssh_host_key_invalid",
        ) from None


class _HostKeyCheck(asyncssh.SSHClient):
    """Accepts the server's key when none is recorded; keeps what was presented."""

    def __init__(self, recorded: asyncssh.SSHKey | None) -> None:
        self.recorded = recorded
        self.presented: asyncssh.SSHKey | None = None

    def validate_host_public_key(
        self, host: str, addr: str, port: int, key: asyncssh.SSHKey
    ) -> bool:
        # Called only for a key that is not the recorded one.
        self.presented = key
        return self.recorded is None


class SshConnection:
    """A logged-in connection to `user@host:port`; `host_key` is the key the server proved it
    holds. Use `open` and close it with `close` (or `async with`)."""

    def __init__(self, conn: asyncssh.SSHClientConnection, target: str) -> None:
        self._conn = conn
        self.target = target
        server_key = conn.get_server_host_key()
        assert server_key is not None
        self.host_key = HostKey.of(server_key)

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        user: str,
        key: asyncssh.SSHKey,
        *,
        known_host_key: str | None,
        timeout_seconds: float,
    ) -> SshConnection:
        target = f"{user}@{host}:{port}"
        recorded = parse_host_key(known_host_key) if known_host_key else None
        check = _HostKeyCheck(recorded)
        try:
            conn, _ = await asyncssh.create_connection(
                lambda: check,
                host,
                port,
                username=user,
                client_keys=[key],
                # The recorded key alone (and its algorithms, so a server holding keys of
                # several kinds shows that one), never the control plane's own known_hosts.
                known_hosts=([recorded] if recorded else [], [], []),
                config=None,
                agent_path=None,
                password=None,
                preferred_auth="publickey",
                connect_timeout=timeout_seconds,
                login_timeout=timeout_seconds,
                keepalive_interval=30,
            )
        except asyncssh.HostKeyNotVerifiable as exc:
            if recorded is None:
                raise _unreachable(f"cannot connect to {target}: {_describe(exc)}") from None
            raise _host_key_changed(target, recorded, check.presented) from None
        except asyncssh.PermissionDenied:
            raise ProviderError(
                f"{target} refused the SSH key ({key.get_fingerprint('sha256')}): add its "
                "public key to the user's ~/.ssh/authorized_keys on the server, or use the "
                "credential whose key is there",
                retryable=False,
                reason="ssh_auth_failed",
            ) from None
        except TimeoutError:
            message = f"connecting to {target} took longer than {timeout_seconds:g} s"
            raise _unreachable(message) from None
        except socket.gaierror as exc:
            raise _unreachable(f"cannot find the server {host}: {exc.strerror}") from None
        except (OSError, asyncssh.Error) as exc:
            raise _unreachable(f"cannot connect to {target}: {_describe(exc)}") from None
        return cls(conn, target)

    async def run(
        self,
        argv: Sequence[str],
        *,
        sudo: bool = False,
        timeout_seconds: float,
        what: str,
        retryable: bool = True,
        accept: tuple[int, ...] = (0,),
    ) -> tuple[int, str]:
        """Run `argv` (quoted for the login shell; with `sudo -n` in front when `sudo`) and
        return its exit status and output. Any other status than those in `accept` raises,
        saying `what` failed with the tail of its output."""
        command = shlex.join(["sudo", "-n", *argv] if sudo else list(argv))
        try:
            result = await asyncio.wait_for(
                self._conn.run(command, check=False, stdin=asyncssh.DEVNULL),
                timeout_seconds,
            )
        except TimeoutError:
            message = f"{what} on {self.target} took longer than {timeout_seconds:g} s"
            raise _unreachable(message, "ssh_timeout") from None
        except (OSError, asyncssh.Error) as exc:
            message = f"the connection to {self.target} broke while {what}: {_describe(exc)}"
            raise _unreachable(message) from None
        status = result.exit_status if result.exit_status is not None else -1
        output = _text(result.stdout) + _text(result.stderr)
        if status not in accept:
            lines = output.strip().splitlines()[-_SHOWN_OUTPUT_LINES:]
            shown = "\n".join(lines) or f"exit status {status}"
            raise ProviderError(
                f"{what} on {self.target} failed:\n{shown}",
                retryable=retryable,
                reason="ssh_command_failed",
            )
        return status, output

    async def upload(self, directory: str, files: Mapping[str, bytes]) -> None:
        """Write `files` (name: content) into `directory`, owner-only (mode 0600)."""
        try:
            async with self._conn.start_sftp_client() as sftp:
                for name, content in files.items():
                    attrs = asyncssh.SFTPAttrs(permissions=0o600)
                    async with sftp.open(f"{directory}/{name}", "wb", attrs) as remote:
                        await remote.write(content)
        except (OSError, asyncssh.Error) as exc:
            message = f"uploading to {self.target} failed: {_describe(exc)}"
            raise _unreachable(message, "ssh_transfer_failed") from None

    async def download(self, path: str) -> bytes:
        try:
            async with self._conn.start_sftp_client() as sftp, sftp.open(path, "rb") as remote:
                data = await remote.read()
        except (OSError, asyncssh.Error) as exc:
            message = f"reading {path} on {self.target} failed: {_describe(exc)}"
            raise _unreachable(message, "ssh_transfer_failed") from None
        return data if isinstance(data, bytes) else data.encode()

    async def close(self) -> None:
        self._conn.close()
        await self._conn.wait_closed()

    async def __aenter__(self) -> SshConnection:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()


def _unreachable(message: str, reason: str = "ssh_unreachable") -> ProviderError:
    """A failure that trying again later may mend: the network, the server's load."""
    return ProviderError(message, retryable=True, reason=reason)


def _host_key_changed(
    target: str, recorded: asyncssh.SSHKey, presented: asyncssh.SSHKey | None
) -> ProviderError:
    now = presented.get_fingerprint("sha256") if presented else "another one"
    return ProviderError(
        f"the host key of {target} changed: it was {recorded.get_fingerprint('sha256')} and "
        f"is now {now}. Either the server was reinstalled or "
        "another machine answers in its place. Compare the new fingerprint with the server's "
        "own (`ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub` on its console); if they "
        "match, remove the node and add it again to trust the new key",
        retryable=False,
        reason="ssh_host_key_changed",
    )


def _describe(exc: BaseException) -> str:
    if isinstance(exc, asyncssh.DisconnectError):
        return exc.reason or type(exc).__name__
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def _text(data: str | bytes | None) -> str:
    if data is None:
        return ""
    return data.decode(errors="replace") if isinstance(data, bytes) else data
