"""The Docker test harness (tests/support/docker.py, images.py) gives what the runtime tests rely
on: containers reach the outside host and nothing of each other's networks, memory limits are
enforced, and the base image is a bare Debian without Node.js."""

from __future__ import annotations

import re
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.docker import DockerEngine
from tests.support.images import ImageSpec, rootfs_archive
from tests.support.waits import eventually_sync

# Connects to ARGV[0]:ARGV[1] (giving up after ARGV[2] s) and exits 0, or says why not and
# exits non-zero. perl-base is in every Debian, so the image needs nothing more.
CONNECT = (
    "use IO::Socket::INET;"
    " IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => $ARGV[1], Timeout => $ARGV[2])"
    ' or die "no connection: $@\\n"; print "connected\\n"'
)
# Accepts connections on port ARGV[0] and closes them, until killed.
SERVE = (
    "use IO::Socket::INET;"
    " my $s = IO::Socket::INET->new(LocalPort => $ARGV[0], Listen => 5, ReuseAddr => 1)"
    ' or die "$@\\n"; while (my $c = $s->accept) { close $c }'
)
ALLOCATE = '$kept = "a" x 200_000_000; print "survived\\n"'  # 200 MB in a 64 MB limit
PORT = 8080
CONNECT_TIMEOUT_SECONDS = 2


def _name() -> str:
    return f"t-{uuid.uuid4().hex[:10]}"


@contextmanager
def _network(engine: DockerEngine) -> Iterator[str]:
    """A user-defined bridge network, removed afterwards (the engine outlives the test)."""
    name = _name()
    engine.docker("network", "create", name)
    try:
        yield name
    finally:
        engine.docker("network", "rm", name, check=False)


def _connect(
    engine: DockerEngine, image: str, network: str, host: str, port: int
) -> subprocess.CompletedProcess[str]:
    args = [host, str(port), str(CONNECT_TIMEOUT_SECONDS)]
    run = ["run", "--rm", "--network", network, image, "perl", "-e", CONNECT, *args]
    return engine.docker(*run, check=False)


def test_a_container_on_a_bridge_network_reaches_the_outside_host(
    docker_engine: DockerEngine, docker_base_image: str
) -> None:
    with docker_engine.outside.listen() as server, _network(docker_engine) as network:
        port = server.getsockname()[1]
        done = _connect(
            docker_engine, docker_base_image, network, docker_engine.outside.address, port
        )
        assert done.returncode == 0, done.stderr
        server.settimeout(CONNECT_TIMEOUT_SECONDS)
        connection, (peer, _) = server.accept()  # waiting in the backlog since the connect
        connection.close()
    # It came through dockerd's namespace, as traffic to the internet would.
    assert peer == docker_engine.namespace.address


def test_containers_on_two_bridge_networks_cannot_connect(
    docker_engine: DockerEngine, docker_base_image: str
) -> None:
    with _network(docker_engine) as first, _network(docker_engine) as second:
        server = _name()
        run = ["run", "--detach", "--name", server, "--network", first, docker_base_image]
        docker_engine.docker(*run, "perl", "-e", SERVE, str(PORT))
        try:
            address = docker_engine.docker(
                "inspect",
                "--format",
                "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                server,
            ).stdout.strip()
            eventually_sync(
                lambda: (
                    _connect(docker_engine, docker_base_image, first, address, PORT).returncode == 0
                ),
                "a container on the server's own network connecting to it",
            )
            across = _connect(docker_engine, docker_base_image, second, address, PORT)
        finally:
            docker_engine.docker("rm", "--force", server, check=False)
    assert across.returncode != 0
    assert "no connection" in across.stderr


def test_a_memory_limit_kills_a_process_that_allocates_more(
    docker_engine: DockerEngine, docker_base_image: str
) -> None:
    name = _name()
    limits = ["--memory", "64m", "--memory-swap", "64m"]
    run = ["run", "--name", name, *limits, docker_base_image, "perl", "-e", ALLOCATE]
    done = docker_engine.docker(*run, check=False)
    try:
        state = docker_engine.docker(
            "inspect", "--format", "{{.State.OOMKilled}} {{.State.ExitCode}}", name
        ).stdout.split()
    finally:
        docker_engine.docker("rm", "--force", name, check=False)
    assert (done.returncode, done.stdout) == (137, "")
    assert state == ["true", "137"]


def test_the_base_image_is_bare_debian_in_docker(
    docker_engine: DockerEngine, docker_base_image: str
) -> None:
    script = 'test -e /.dockerenv && echo "in docker"; command -v node || echo "no node"'
    script += "; command -v useradd; cat /proc/1/comm"
    run = ["run", "--rm", "--init", docker_base_image, "sh", "-c", script]
    done = docker_engine.docker(*run)
    # --init's docker-init is tini, which test-deps.sh relies on docker.io to bring.
    assert done.stdout.splitlines() == ["in docker", "no node", "/usr/sbin/useradd", "docker-init"]


def test_an_unreachable_mirror_fails_at_once_naming_it(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nothing listens on, on this machine's loopback
        probe.bind(("127.0.0.1", 0))
        mirror = f"http://127.0.0.1:{probe.getsockname()[1]}/debian"
    with pytest.raises(RuntimeError, match=f"mirror {re.escape(mirror)} is unreachable"):
        rootfs_archive(ImageSpec(), cache=tmp_path, mirror=mirror, progress=lambda line: None)
