"""Every WebSocket route answers a bad query or path parameter the same way: the handshake
succeeds, then the socket closes with 1008 (policy violation) and a reason naming the
parameter, never an HTTP 403 that reads as a failed sign-in. Against a real `corral serve`."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from corral.control.api.closecodes import CLOSE_POLICY_VIOLATION
from tests.support.processes import CorralServer, corral_env, corral_server

TIMEOUT_SECONDS = 30.0
TERMINAL = "trm_" + "0" * 26
SESSION = "ses_" + "0" * 26


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CorralServer]:
    base = tmp_path_factory.mktemp("ws-params")
    with corral_server(base / "data", corral_env(base / "home")) as running:
        yield running


@pytest.fixture(scope="module")
def token(server: CorralServer) -> str:
    assert server.link is not None
    with httpx.Client(base_url=server.url, timeout=TIMEOUT_SECONDS, trust_env=False) as client:
        response = client.post(
            "/api/v1/auth/exchange", json={"token": server.link.split("token=", 1)[1]}
        )
    assert response.status_code == 201, response.text
    secret: str = response.json()["token"]["token"]
    return secret


def close_of(server: CorralServer, path: str, token: str | None) -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    url = f"ws://127.0.0.1:{server.port}{path}"
    with (
        connect(
            url, additional_headers=headers, open_timeout=TIMEOUT_SECONDS, proxy=None
        ) as socket,
        pytest.raises(ConnectionClosed) as closed,
    ):
        socket.recv(timeout=TIMEOUT_SECONDS)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


@pytest.mark.parametrize("signed_in", [True, False], ids=["signed-in", "anonymous"])
@pytest.mark.parametrize(
    ("path", "reason"),
    [
        (
            f"/api/v1/sessions/{SESSION}/events/ws?after=-1",
            "invalid query parameter 'after': Input should be greater than or equal to 0",
        ),
        (
            f"/api/v1/sessions/{SESSION}/events/ws?after=soon",
            "invalid query parameter 'after': Input should be a valid integer, unable to parse "
            "string as an integer",
        ),
        (
            "/api/v1/workspaces/w/terminals/not-a-terminal/ws",
            "invalid path parameter 'terminal': String should match pattern '^trm_[0-9a-z]{26}$'",
        ),
        (
            "/api/v1/sessions/not-an-id/events/ws",
            "invalid path parameter 'session': String should match pattern "
            "'^[a-z]{3,4}_[0-9a-z]{26}$'",
        ),
        (
            "/api/v1/workspaces/Not%20A%20Name/terminals/{TERMINAL}/ws".replace(
                "{TERMINAL}", TERMINAL
            ),
            "invalid path parameter 'workspace': String should match pattern "
            "'^[a-z0-9][a-z0-9._-]{0,63}$'",
        ),
        (
            f"/api/v1/workspaces/w/terminals/{TERMINAL}/ws?offset=-5",
            "invalid query parameter 'offset': Input should be greater than or equal to 0",
        ),
        (
            f"/api/v1/workspaces/w/terminals/{TERMINAL}/ws?ticket={'t' * 101}",
            "invalid query parameter 'ticket': String should have at most 100 characters",
        ),
    ],
)
def test_a_bad_parameter_closes_with_1008_naming_it(
    server: CorralServer, token: str, signed_in: bool, path: str, reason: str
) -> None:
    assert close_of(server, path, token if signed_in else None) == (CLOSE_POLICY_VIOLATION, reason)
