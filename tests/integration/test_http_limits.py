"""The HTTP server's own limits, against a real `corral serve` on 127.0.0.1: oversized and slow
request heads are refused and their connections closed, while other clients are still served."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.sync.client import connect

from tests.support.processes import CorralServer, corral_env, corral_server
from tests.support.waits import eventually_sync

SOCKET_TIMEOUT_SECONDS = 30.0
HEAD_TIMEOUT_SECONDS = 1.0
DRIBBLE_INTERVAL_SECONDS = 0.2
DRIBBLE_MAX_BYTES = 300  # at one byte per interval, a minute: far past the head's deadline
BIG_HEADER_BYTES = 64 * 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorralServer]:
    base = tmp_path_factory.mktemp("http-limits")
    env = corral_env(
        base / "home", CORRAL_HTTP__REQUEST_HEAD_TIMEOUT_SECONDS=str(HEAD_TIMEOUT_SECONDS)
    )
    with corral_server(base / "data", env) as running:
        yield running


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS in /proc/PID/status")


def open_socket(server: CorralServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=SOCKET_TIMEOUT_SECONDS)
    sock.settimeout(SOCKET_TIMEOUT_SECONDS)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (bounded by the timeout)."""
    received = b""
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def status_and_error(response: bytes) -> tuple[int, dict[str, object]]:
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["error"]


def healthz(server: CorralServer) -> int:
    with httpx.Client(base_url=server.url, timeout=SOCKET_TIMEOUT_SECONDS, trust_env=False) as c:
        return c.get("/healthz").status_code


def send_in_background(sock: socket.socket, data: bytes) -> threading.Thread:
    """Send `data` from a thread, so the test can read the answer while the server refuses the
    rest; the send fails once the server has closed, which is expected."""

    def send() -> None:
        with contextlib.suppress(OSError):
            sock.sendall(data)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def test_a_64_mib_header_is_refused_with_431_without_the_server_holding_it(
    server: CorralServer,
) -> None:
    before = rss_bytes(server.pid)
    head = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: "
    with open_socket(server) as sock:
        sender = send_in_background(sock, head + b"a" * BIG_HEADER_BYTES + b"\r\n\r\n")
        response = read_until_closed(sock)
        sock.close()
        sender.join(SOCKET_TIMEOUT_SECONDS)
    status, error = status_and_error(response)
    assert status == 431
    assert error["code"] == "headers_too_large"
    assert "65536 byte limit" in str(error["message"])
    assert b"connection: close" in response.lower()
    assert rss_bytes(server.pid) - before < BIG_HEADER_BYTES // 8
    assert healthz(server) == 200


def test_too_many_header_fields_are_refused_with_431(server: CorralServer) -> None:
    fields = b"".join(b"X-F%d: v\r\n" % n for n in range(101))
    with open_socket(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n" + fields + b"\r\n")
        status, error = status_and_error(read_until_closed(sock))
    assert status == 431
    assert error["message"] == "the request has over 100 header fields"


def test_a_request_with_headers_under_the_limits_is_served(server: CorralServer) -> None:
    fields = b"".join(b"X-F%d: %s\r\n" % (n, b"v" * 500) for n in range(98))
    with open_socket(server) as sock:
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + fields + b"\r\n"
        )
        response = read_until_closed(sock)
    assert response.startswith(b"HTTP/1.1 200 ")


def test_an_overlong_url_is_refused_with_414(server: CorralServer) -> None:
    with open_socket(server) as sock:
        sock.sendall(b"GET /healthz?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        status, error = status_and_error(read_until_closed(sock))
    assert status == 414
    assert error == {
        "code": "url_too_long",
        "message": "the URL is over the 8192 byte limit",
        "details": None,
    }


def test_a_client_dribbling_its_head_is_cut_off_while_others_are_served(
    server: CorralServer,
) -> None:
    with open_socket(server) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        sock.settimeout(DRIBBLE_INTERVAL_SECONDS)
        answer = b""
        served_meanwhile = None
        for _ in range(DRIBBLE_MAX_BYTES):
            try:
                sock.sendall(b"X")
            except OSError:
                break
            if served_meanwhile is None:
                served_meanwhile = healthz(server)
            try:
                answer = sock.recv(65536)
            except TimeoutError:
                continue
            break
        sock.settimeout(SOCKET_TIMEOUT_SECONDS)
        answer += read_until_closed(sock)
    assert served_meanwhile == 200
    status, error = status_and_error(answer)
    assert status == 408
    assert error["message"] == "the request's headers did not arrive within 1 s"


def test_a_connection_that_sends_nothing_is_closed_after_the_head_timeout(
    server: CorralServer,
) -> None:
    with open_socket(server) as sock:
        assert read_until_closed(sock) == b""


def test_connections_over_the_cap_get_503_and_the_server_recovers(tmp_path: Path) -> None:
    env = corral_env(
        tmp_path / "home",
        CORRAL_HTTP__MAX_CONNECTIONS="5",
        CORRAL_HTTP__REQUEST_HEAD_TIMEOUT_SECONDS="120",
    )
    with corral_server(tmp_path / "data", env) as capped:
        held = [open_socket(capped) for _ in range(5)]
        try:
            for sock in held:
                sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            with open_socket(capped) as extra:
                status, error = status_and_error(read_until_closed(extra))
            assert status == 503
            assert error["code"] == "too_many_connections"
        finally:
            for sock in held:
                sock.close()

        def served() -> bool:
            try:
                return healthz(capped) == 200
            except httpx.HTTPError:
                return False

        eventually_sync(served, "/healthz served again", wait_seconds=SOCKET_TIMEOUT_SECONDS)


def test_websockets_still_open(server: CorralServer) -> None:
    assert server.link is not None
    with httpx.Client(base_url=server.url, timeout=SOCKET_TIMEOUT_SECONDS, trust_env=False) as c:
        token = c.post(
            "/api/v1/auth/exchange", json={"token": server.link.split("token=", 1)[1]}
        ).json()["token"]["token"]
    ws_url = f"ws://127.0.0.1:{server.port}/api/v1/live/ws"
    with connect(
        ws_url,
        additional_headers={"Authorization": f"Bearer {token}"},
        open_timeout=SOCKET_TIMEOUT_SECONDS,
        proxy=None,
    ) as ws:
        assert json.loads(ws.recv(timeout=SOCKET_TIMEOUT_SECONDS)) == {"type": "ready"}
