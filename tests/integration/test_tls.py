"""TLS as deployed: `corral serve --certfile --keyfile` serving HTTPS on 127.0.0.1, a node joining
and linking over https and wss while trusting a private CA through SSL_CERT_FILE, `corral up`'s
local node linking to a certificate that does not name 127.0.0.1, and a node refusing an http
control URL to another machine before it connects anywhere. Real processes, all on 127.0.0.1:
where a node is let to dial another machine, an HTTP proxy on 127.0.0.1 stands in for the
network, so nothing leaves this machine.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.connectproxy import connect_proxy
from tests.support.nodes import WAIT_SECONDS, Api, exchange, node_agent
from tests.support.processes import assert_one_line_error, corral_env, corral_server, run_cli
from tests.support.tls import TestAuthority
from tests.support.waits import eventually_sync

REFUSAL = "would cross the network in clear"


@pytest.fixture
def authority(tmp_path: Path) -> TestAuthority:
    return TestAuthority(tmp_path / "pki")


class ProxyStandIn:
    """A listener on 127.0.0.1 named as the node's HTTP proxy: it keeps the request line of
    every connection made to it and answers none, so a node that dials "another machine"
    reaches only this."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        self.request_lines: list[str] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self._server.accept()
            except OSError:
                return  # closed
            with connection:
                connection.settimeout(5)
                head = b""
                try:
                    while b"\r\n" not in head and len(head) < 65536:
                        chunk = connection.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                except OSError:
                    pass
                self.request_lines.append(head.split(b"\r\n")[0].decode(errors="replace"))

    def close(self) -> None:
        self._server.close()
        self._thread.join(timeout=5)


@pytest.fixture
def proxy() -> Iterator[ProxyStandIn]:
    stand_in = ProxyStandIn()
    try:
        yield stand_in
    finally:
        stand_in.close()


def wait_node_ready(api: Api, name: str) -> dict[str, Any]:
    def ready() -> dict[str, Any] | None:
        node = next((n for n in api.get("/nodes")["items"] if n["name"] == name), None)
        return node if node and node["state"] == "ready" and node["connected"] else None

    found: dict[str, Any] = eventually_sync(
        ready, f"node {name} ready and linked", wait_seconds=WAIT_SECONDS, context=api.context
    )
    return found


def test_a_node_joins_and_links_over_https_trusting_a_ca_from_ssl_cert_file(
    tmp_path: Path, authority: TestAuthority
) -> None:
    served = authority.issue("127.0.0.1", "localhost")
    trusting = authority.client_context()
    env = corral_env(tmp_path / "home", CORRAL_NODE_RECONNECT_MAX_SECONDS="0.5")
    tls = ["--certfile", str(served.certfile), "--keyfile", str(served.keyfile)]
    with corral_server(tmp_path / "data", env, extra_args=tls, verify=trusting) as server:
        assert server.link is not None and server.link.startswith("https://127.0.0.1:")
        api = Api(server.url, exchange(server.url, server.link, verify=trusting), verify=trusting)
        try:
            created = api.post("/nodes", {"name": "remote"})
            assert f"--control-url {server.url}" in created["join_command"]
            # Only the test CA says who 127.0.0.1 is: neither certifi nor the system trusts it.
            node_env = {**env, "SSL_CERT_FILE": str(authority.ca_file)}
            with node_agent(
                tmp_path / "node",
                node_env,
                control_url=server.url,
                join_token=created["join_token"],
            ) as node:
                api.context = node.describe
                wait_node_ready(api, "remote")
                identity = json.loads((tmp_path / "node" / "node.json").read_text())
                assert identity["control_url"] == server.url
                assert '"linked to https://127.0.0.1' in node.stderr()
        finally:
            api.close()


def test_a_node_joins_and_links_through_the_machines_proxy(
    tmp_path: Path, authority: TestAuthority
) -> None:
    """A control plane at a name only the company proxy can reach (as on a network where
    HTTPS goes out through a proxy): the node joins and links through its CONNECT tunnel, with
    TLS end to end to the control plane."""
    served = authority.issue("corral.test", "127.0.0.1")
    trusting = authority.client_context()
    env = corral_env(tmp_path / "home", CORRAL_NODE_RECONNECT_MAX_SECONDS="0.5")
    tls = ["--certfile", str(served.certfile), "--keyfile", str(served.keyfile)]
    with corral_server(tmp_path / "data", env, extra_args=tls, verify=trusting) as server:
        assert server.link is not None
        port = server.port
        api = Api(server.url, exchange(server.url, server.link, verify=trusting), verify=trusting)
        try:
            token = api.post("/nodes", {"name": "remote"})["join_token"]
            with connect_proxy({f"corral.test:{port}": port}) as proxy:
                node_env = {
                    **env,
                    "SSL_CERT_FILE": str(authority.ca_file),
                    "HTTPS_PROXY": proxy.url,
                }
                with node_agent(
                    tmp_path / "node",
                    node_env,
                    control_url=f"https://corral.test:{port}",
                    join_token=token,
                ) as node:
                    api.context = node.describe
                    wait_node_ready(api, "remote")
                # One tunnel to join, one for the link.
                tunnels = [line.rsplit(" ", 1)[0] for line in proxy.request_lines]
                assert tunnels == [f"CONNECT corral.test:{port}"] * 2
        finally:
            api.close()
        identity = json.loads((tmp_path / "node" / "node.json").read_text())
        assert identity["control_url"] == f"https://corral.test:{port}"


def test_a_node_that_does_not_trust_the_certificate_says_so(
    tmp_path: Path, authority: TestAuthority
) -> None:
    served = authority.issue("127.0.0.1")
    trusting = authority.client_context()
    env = corral_env(tmp_path / "home")
    tls = ["--certfile", str(served.certfile), "--keyfile", str(served.keyfile)]
    with corral_server(tmp_path / "data", env, extra_args=tls, verify=trusting) as server:
        assert server.link is not None
        api = Api(server.url, exchange(server.url, server.link, verify=trusting), verify=trusting)
        try:
            token = api.post("/nodes", {"name": "remote"})["join_token"]
        finally:
            api.close()
        result = run_cli(
            "node",
            "run",
            "--data-dir",
            str(tmp_path / "node"),
            "--control-url",
            server.url,
            env={**env, "CORRAL_NODE_JOIN_TOKEN": token},
        )
    assert result.returncode == 1, result
    assert "its certificate is not trusted" in result.stderr, result.stderr
    assert "SSL_CERT_FILE" in result.stderr


def test_up_serves_https_and_its_local_node_trusts_the_served_certificate(
    tmp_path: Path, authority: TestAuthority
) -> None:
    # A certificate for the public name only, as a real one is: the local node dials
    # 127.0.0.1, which it does not name.
    served = authority.issue("corral.test")
    lenient = authority.client_context(check_hostname=False)
    env = corral_env(
        tmp_path / "home",
        CORRAL_TLS_CERTFILE=str(served.certfile),
        CORRAL_TLS_KEYFILE=str(served.keyfile),
        CORRAL_NODE_RECONNECT_MAX_SECONDS="0.5",
    )
    up = corral_server(
        tmp_path / "data", env, command="up", extra_args=["--no-browser"], verify=lenient
    )
    with up as server:
        assert server.link is not None
        api = Api(server.url, exchange(server.url, server.link, verify=lenient), verify=lenient)
        api.context = server.stderr
        try:
            wait_node_ready(api, "local")
        finally:
            api.close()


@pytest.mark.parametrize("control_url", ["http://192.0.2.1:9", "http://localhost.corral.test:9"])
def test_a_node_refuses_http_to_another_machine_before_connecting(
    tmp_path: Path, proxy: ProxyStandIn, control_url: str
) -> None:
    env = corral_env(tmp_path / "home", HTTP_PROXY=proxy.url, CORRAL_NODE_JOIN_TOKEN="crljoin_x")
    result = run_cli(
        "node", "run", "--data-dir", str(tmp_path / "node"), "--control-url", control_url, env=env
    )
    line = assert_one_line_error(result, control_url, REFUSAL, "https", "--insecure")
    assert "token" in line and "credential" in line
    assert result.returncode == 2
    assert proxy.request_lines == []


def test_a_node_refuses_a_remembered_http_url_to_another_machine(
    tmp_path: Path, proxy: ProxyStandIn
) -> None:
    """A node that joined over http before the check (or with --insecure) and restarts without
    a control URL is refused too: its credential would cross the network on every link."""
    node_dir = tmp_path / "node"
    node_dir.mkdir(mode=0o700)
    identity = {"control_url": "http://corral.test:9", "node_id": "nod_x", "credential": "c"}
    (node_dir / "node.json").write_text(json.dumps(identity))
    env = corral_env(tmp_path / "home", HTTP_PROXY=proxy.url)
    result = run_cli("node", "run", "--data-dir", str(node_dir), env=env)
    assert result.returncode == 1, result
    assert REFUSAL in result.stderr and "--insecure" in result.stderr
    assert proxy.request_lines == []


def test_insecure_lets_a_node_dial_http_to_another_machine(
    tmp_path: Path, proxy: ProxyStandIn
) -> None:
    """The check is by the URL's name, so `--insecure` is what lets a name through; the node
    then dials it, here reaching only the proxy stand-in on 127.0.0.1."""
    env = corral_env(tmp_path / "home", HTTP_PROXY=proxy.url, CORRAL_NODE_JOIN_TOKEN="crljoin_x")
    args = ["node", "run", "--data-dir", str(tmp_path / "node")]
    result = run_cli(*args, "--insecure", "--control-url", "http://corral.test:9", env=env)
    assert result.returncode == 1, result
    assert REFUSAL not in result.stderr
    assert "cannot reach the control plane at http://corral.test:9" in result.stderr
    assert proxy.request_lines == ["POST http://corral.test:9/api/v1/nodes/join HTTP/1.1"]
    by_setting = run_cli(
        *args,
        "--control-url",
        "http://corral.test:9",
        env={**env, "CORRAL_NODE_INSECURE": "1"},
    )
    assert REFUSAL not in by_setting.stderr
    assert len(proxy.request_lines) == 2


def test_serve_refuses_a_certificate_it_cannot_use_in_one_line(
    tmp_path: Path, authority: TestAuthority
) -> None:
    served = authority.issue("127.0.0.1")
    other = authority.issue("127.0.0.1", stem="other")
    env = corral_env(tmp_path / "home")
    serve = ["serve", "--data-dir", str(tmp_path / "data"), "--port", "0"]
    missing = tmp_path / "missing.pem"
    result = run_cli(*serve, "--certfile", str(missing), "--keyfile", str(served.keyfile), env=env)
    assert_one_line_error(result, f"cannot read the TLS certificate {missing}")
    result = run_cli(
        *serve, "--certfile", str(served.certfile), "--keyfile", str(other.keyfile), env=env
    )
    assert_one_line_error(result, "does not belong to the certificate")
    result = run_cli(*serve, "--keyfile", str(served.keyfile), env=env)
    assert_one_line_error(result, "tls_keyfile needs tls_certfile")
