"""A private Docker engine for the tests: a dockerd of their own, in a network namespace of its
own, with its own data, socket and configuration, stopped by PID when the tests end.

No image registry is reachable here, so images are built locally (tests/support/images.py).

The network: dockerd runs in a namespace behind an outside host (tests/support/netns.py), whose
address is its default route. So containers on a bridge network reach a server listening in the
outside host (the scripted model server) as they would the internet, and dockerd's iptables
rules and forwarding stay in that namespace: the machine's firewall is never touched. Nothing
goes further: the outside host does not forward, and the containers' DNS server is the outside
host, so a lookup fails at once rather than timing out. `netns` is that namespace, for a runtime
under test that adds rules of its own beside dockerd's.

Addresses (see netns.py for the whole 198.18.0.0/15 plan): the default bridge is 198.19.1.0/24
and networks the tests make come from 198.19.128.0/17, a /24 each. They exist only inside the
engine's namespace, so engines running side by side use the same ones.

Started with `nsenter --net=…`, not `ip netns exec`: the latter remounts /sys for the
command, which dockerd does not survive. dockerd shares this process's mount namespace, so what
it leaves mounted when killed is found in /proc/self/mountinfo and unmounted by `stop`.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Mapping
from contextlib import ExitStack, suppress
from pathlib import Path
from types import TracebackType

import httpx

from tests.support.mounts import unmount_below
from tests.support.netns import InnerNamespace, OutsideHost, inner_namespace, outside_host
from tests.support.processes import all_pids, descendants, running, stop_process
from tests.support.waits import eventually_sync

__all__ = [
    "BRIDGE_ADDRESS",
    "DOCKER_TIMEOUT_SECONDS",
    "NETWORK_POOL",
    "DockerCommandError",
    "DockerEngine",
]

BRIDGE_ADDRESS = "198.19.1.1/24"
NETWORK_POOL = "198.19.128.0/17"
NETWORK_PREFIX_LENGTH = 24
START_TIMEOUT_SECONDS = 60.0
"""dockerd answers in about half a second; a busy machine may take far longer."""
STOP_TIMEOUT_SECONDS = 20.0
DOCKER_TIMEOUT_SECONDS = 120.0
"""The longest a `docker` command may run before the test fails, unless the caller says."""
_SHUTDOWN_TIMEOUT_SECONDS = 2
"""How long dockerd gives a container SIGTERM before SIGKILL when it stops (its default is 15
s, per container). `stop` removes the containers first, so this only bounds a straggler."""
_LOG_TAIL_LINES = 40
_TOOLS = ("dockerd", "docker", "containerd", "runc", "iptables", "nsenter", "ip")


class DockerCommandError(RuntimeError):
    """A `docker` command failed; the message holds its arguments and what it wrote."""


class DockerEngine:
    """A dockerd for the tests. `start` it (or enter it as a context manager) and `stop` it; a
    failed `start` cleans up after itself. Needs root, as the suite has in CI."""

    def __init__(self, outside: OutsideHost | None = None) -> None:
        """`outside`: the host the engine's namespace reaches the internet through; one of the
        engine's own when not given (then it is removed with the engine)."""
        self.base = Path(tempfile.mkdtemp(prefix="corral-docker-"))
        self.socket_path = self.base / "docker.sock"
        self.config_path = self.base / "daemon.json"
        self.log_path = self.base / "dockerd.log"
        self.cli = shutil.which("docker") or "docker"
        self._given_outside = outside
        self._outside: OutsideHost | None = None
        self._namespace: InnerNamespace | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._stack = ExitStack()

    def __enter__(self) -> DockerEngine:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def docker_host(self) -> str:
        """The engine's address as DOCKER_HOST takes it."""
        return f"unix://{self.socket_path}"

    @property
    def outside(self) -> OutsideHost:
        """The host containers reach as the internet: `address`, and `listen()` for servers."""
        assert self._outside is not None, "the engine has not started"
        return self._outside

    @property
    def namespace(self) -> InnerNamespace:
        """dockerd's network namespace: its name, its address on the link to the outside host
        (where published ports are reached from there) and its gateway."""
        assert self._namespace is not None, "the engine has not started"
        return self._namespace

    @property
    def netns(self) -> str:
        """dockerd's network namespace's file, for `nsenter --net=` (iptables rules beside
        dockerd's)."""
        return self.namespace.path

    @property
    def pid(self) -> int:
        assert self._process is not None, "the engine has not started"
        return self._process.pid

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """`base` (this process's environment unless given) without any DOCKER_* variable, with
        DOCKER_HOST pointing here and a private CLI configuration directory, so that a user's
        contexts and credential helpers never come into play."""
        source = os.environ if base is None else base
        env = {key: value for key, value in source.items() if not key.startswith("DOCKER_")}
        env.update(DOCKER_HOST=self.docker_host, DOCKER_CONFIG=str(self.base / "cli"))
        return env

    def docker(
        self,
        *args: str,
        input: str = "",
        timeout: float = DOCKER_TIMEOUT_SECONDS,
        check: bool = True,
    ) -> subprocess.CompletedProcess[str]:
        """Run the docker CLI against this engine. With `check`, a non-zero exit raises
        DockerCommandError with what the command wrote; a command over `timeout` raises
        subprocess.TimeoutExpired either way."""
        done = subprocess.run(
            [self.cli, *args],
            env=self.env(),
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if check and done.returncode != 0:
            raise DockerCommandError(
                f"docker {' '.join(args)} exited with {done.returncode}:\n"
                f"{done.stderr.strip() or done.stdout.strip()}"
            )
        return done

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The end of dockerd's log, for a failure's report."""
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(dockerd wrote no log)"
        return "dockerd's log ends:\n" + "\n".join(text.splitlines()[-lines:])

    def start(self) -> None:
        """Make the namespaces, start dockerd and wait until it answers."""
        _require_tools()
        try:
            self._outside = self._given_outside or self._stack.enter_context(outside_host())
            self._namespace = self._stack.enter_context(inner_namespace(self._outside))
            self.config_path.write_text(json.dumps(self._config(), indent=2))
            self._process = self._spawn()
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Remove the containers, stop dockerd by PID (SIGTERM, then SIGKILL), kill by PID
        whatever of its is left (containerd, shims, containers' processes), unmount what it
        left mounted, remove the namespaces and the directory. Idempotent. Raises RuntimeError
        after all of that if something could not be cleaned up, so a leak is seen."""
        problems: list[str] = []
        if self._process is not None:
            self._remove_containers()
            stop_process(self._process, signal.SIGTERM, STOP_TIMEOUT_SECONDS)
            self._process = None
        problems += self._kill_stragglers()
        left = unmount_below(self.base)
        if left:
            problems.append(f"still mounted: {', '.join(left)}")
        self._stack.close()
        self._namespace = None
        shutil.rmtree(self.base, ignore_errors=True)
        if self.base.exists():
            problems.append(f"{self.base} could not be removed")
        if problems:
            raise RuntimeError("the test dockerd was not cleaned up: " + "; ".join(problems))

    def _config(self) -> dict[str, object]:
        return {
            "data-root": str(self.base / "data"),
            "exec-root": str(self.base / "exec"),
            "pidfile": str(self.base / "dockerd.pid"),
            "hosts": [self.docker_host],
            # dockerd 20.10 writes a key here, /etc/docker/key.json unless told.
            "deprecated-key-path": str(self.base / "key.json"),
            "iptables": True,
            "ip-forward": True,
            "icc": False,
            "userland-proxy": False,
            "bip": BRIDGE_ADDRESS,
            "default-address-pools": [{"base": NETWORK_POOL, "size": NETWORK_PREFIX_LENGTH}],
            "dns": [self.outside.address],
            "shutdown-timeout": _SHUTDOWN_TIMEOUT_SECONDS,
        }

    def _spawn(self) -> subprocess.Popen[bytes]:
        """dockerd in its namespace (nsenter execs it: the PID is dockerd's), in a session of
        its own so that a Ctrl-C meant for pytest reaches it only through `stop`."""
        command = ["nsenter", f"--net={self.netns}", "--"]
        command += ["dockerd", "--config-file", str(self.config_path)]
        with self.log_path.open("ab") as log:
            return subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def _wait_ready(self) -> None:
        """Poll GET /_ping on the socket; fail at once, with the log, if dockerd exits."""
        process = self._process
        assert process is not None
        transport = httpx.HTTPTransport(uds=str(self.socket_path))
        with httpx.Client(
            transport=transport, base_url="http://docker", timeout=2.0, trust_env=False
        ) as client:

            def answers() -> bool:
                if process.poll() is not None:
                    raise RuntimeError(
                        f"dockerd exited with {process.returncode} while starting\n"
                        f"{self.log_tail()}"
                    )
                # httpx leaves its socket unclosed when a unix socket refuses the connection, so
                # a plain socket finds out first whether dockerd listens yet.
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
                    try:
                        probe.connect(str(self.socket_path))
                    except OSError:
                        return False
                try:
                    return client.get("/_ping").status_code == 200
                except httpx.TransportError:
                    return False

            eventually_sync(
                answers,
                "dockerd answering /_ping",
                wait_seconds=START_TIMEOUT_SECONDS,
                context=self.log_tail,
            )

    def _remove_containers(self) -> None:
        """Kill and remove every container, so dockerd stops without waiting on them."""
        if self._process is None or self._process.poll() is not None:
            return
        try:
            listed = self.docker("ps", "--all", "--quiet", check=False, timeout=30)
            ids = listed.stdout.split()
            if ids:
                self.docker("rm", "--force", "--volumes", *ids, check=False, timeout=60)
        except subprocess.TimeoutExpired:
            pass  # SIGTERM, then SIGKILL, still stop dockerd, and the stragglers go below

    def _kill_stragglers(self) -> list[str]:
        """SIGKILL, by PID, every process left in dockerd's namespace (containerd and the
        shims, when dockerd was killed) and every process below them (the containers')."""
        if self._namespace is None or not os.path.exists(self.netns):
            return []
        inside = _processes_in_namespace(self.netns)
        victims = set(inside)
        for pid in inside:
            victims.update(descendants(pid))
        for pid in victims:
            with suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        try:
            eventually_sync(
                lambda: not any(running(pid) for pid in victims),
                "dockerd's leftover processes exiting",
                wait_seconds=STOP_TIMEOUT_SECONDS,
            )
        except AssertionError as exc:
            return [str(exc)]
        return []


def _require_tools() -> None:
    if os.geteuid() != 0:
        raise RuntimeError("the Docker tests need root (CI runs them as root)")
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if missing:
        raise RuntimeError(
            f"the Docker tests need {', '.join(missing)}: run scripts/test-deps.sh as root"
        )


def _processes_in_namespace(path: str) -> list[int]:
    """The PIDs whose network namespace is the one at `path` (this process excepted)."""
    wanted = os.stat(path)
    found = []
    for pid in all_pids():
        if pid == os.getpid():
            continue
        try:
            own = os.stat(f"/proc/{pid}/ns/net")
        except OSError:
            continue  # gone, or a kernel thread
        if (own.st_dev, own.st_ino) == (wanted.st_dev, wanted.st_ino):
            found.append(pid)
    return found
