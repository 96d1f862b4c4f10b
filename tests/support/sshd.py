"""A real OpenSSH server for the tests, on a free port of 127.0.0.1, as a server a user owns.

`SshServer` runs `sshd -D -e` with a configuration, host key and authorized keys of its own in a
temporary directory, so it reads nothing of the machine's sshd setup and shows nothing of it.
Logins are by public key only (the key of `ssh_client_key`), as the current user (root on the
test machines); sessions get this machine's network variables (proxies, trust stores) through
`SetEnv`, as a server's own network configuration reaches an SSH session. `other_host_key`
restarts it with a different host key, for the tests of a host key that changed.

sshd cannot be told to listen on port 0, so this picks a port the kernel had free a moment ago
and tries again on another if sshd then fails to bind. It is stopped only through its PID.
"""

from __future__ import annotations

import getpass
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from corral.netenv import network_variables

__all__ = ["SSHD", "SshKeyPair", "SshServer", "make_key_pair"]

SSHD = "/usr/sbin/sshd"
START_TIMEOUT_SECONDS = 10.0
START_ATTEMPTS = 5
STOP_TIMEOUT_SECONDS = 10.0
PRIVILEGE_SEPARATION_DIR = Path("/run/sshd")
"""sshd refuses to start without it (Debian's service makes it at boot)."""


@dataclass(frozen=True)
class SshKeyPair:
    private_key: str
    """The private key in OpenSSH format: what a user stores as an `ssh-key` credential."""
    public_key: str
    """One `authorized_keys` line."""
    path: Path


def make_key_pair(directory: Path, name: str, key_type: str = "ed25519") -> SshKeyPair:
    """A new key pair without a passphrase, made by `ssh-keygen` into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", key_type, "-N", "", "-C", f"corral-test-{name}", "-f", path],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return SshKeyPair(path.read_text(), path.with_suffix(".pub").read_text().strip(), path)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _set_env_line(variables: dict[str, str]) -> str:
    """`SetEnv` for the variables whose values sshd_config can quote (no quotes, no spaces in
    names); the others are left out."""
    pairs = [f'{k}="{v}"' for k, v in variables.items() if '"' not in v and "\\" not in v]
    return f"SetEnv {' '.join(pairs)}\n" if pairs else ""


class SshServer:
    """One sshd on 127.0.0.1, authorizing `client_keys`, logging to `log_path`."""

    def __init__(
        self,
        client_keys: list[SshKeyPair],
        base: Path | None = None,
        environment: dict[str, str] | None = None,
    ) -> None:
        """`environment`: more variables for every session, as the server's own
        configuration (`CORRAL_NODE_*` settings, say) would set them."""
        if not Path(SSHD).exists():
            raise RuntimeError("OpenSSH's server is not installed: run scripts/test-deps.sh")
        self.base = base or Path(tempfile.mkdtemp(prefix="corral-sshd-"))
        self.host = "127.0.0.1"
        self.port = 0
        self.user = getpass.getuser()
        self.log_path = self.base / "sshd.log"
        self.config_path = self.base / "sshd_config"
        self.authorized_keys = self.base / "authorized_keys"
        self.authorized_keys.write_text("".join(f"{key.public_key}\n" for key in client_keys))
        self.host_key = make_key_pair(self.base / "host-keys", "main")
        self._process: subprocess.Popen[bytes] | None = None
        self.environment = environment or {}

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    @property
    def host_public_key(self) -> str:
        """The host key the server presents, in OpenSSH format (`ssh-ed25519 AAAA…`), with no
        comment."""
        return " ".join(self.host_key.public_key.split()[:2])

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _write_config(self) -> None:
        self.config_path.write_text(
            f"Port {self.port}\n"
            f"ListenAddress {self.host}\n"
            f"HostKey {self.host_key.path}\n"
            f"PidFile {self.base / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {self.authorized_keys}\n"
            # The temporary directory sits below /tmp, which is world-writable.
            "StrictModes no\n"
            "PubkeyAuthentication yes\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UsePAM no\n"
            "PermitRootLogin prohibit-password\n"
            "PermitUserEnvironment no\n"
            "Subsystem sftp internal-sftp\n"
            "LogLevel VERBOSE\n" + _set_env_line(network_variables() | self.environment)
        )

    def start(self) -> None:
        PRIVILEGE_SEPARATION_DIR.mkdir(mode=0o755, exist_ok=True)
        for _ in range(START_ATTEMPTS):
            self.port = _free_port()
            if self._launch():
                return
            self.stop()
        raise RuntimeError(f"sshd did not start on 127.0.0.1:\n{self.log()[-3000:]}")

    def _launch(self) -> bool:
        """Start sshd on `self.port`; whether it listens there in time."""
        self._write_config()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [SSHD, "-D", "-e", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )
        return self._wait_listening()

    def _wait_listening(self) -> bool:
        assert self._process is not None
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                with socket.create_connection((self.host, self.port), timeout=1.0) as conn:
                    # sshd's banner: it is sshd listening, not some other process.
                    if conn.recv(4).startswith(b"SSH-"):
                        return True
            except OSError:
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT_SECONDS)

    def restart(self) -> None:
        """Stop and start again on the same port (another one if that was taken meanwhile)."""
        self.stop()
        if not self._launch():
            self.stop()
            self.start()

    @contextmanager
    def other_host_key(self) -> Iterator[SshKeyPair]:
        """Present a new host key (as a reinstalled server, or a machine in its place, would)
        for the block, and the original one again after it."""
        original = self.host_key
        self.host_key = make_key_pair(self.base / "host-keys", f"other-{time.monotonic_ns()}")
        self.restart()
        try:
            yield self.host_key
        finally:
            self.host_key = original
            self.restart()

    def __enter__(self) -> SshServer:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()
