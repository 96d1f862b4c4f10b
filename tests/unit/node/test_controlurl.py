"""Which control URLs a node dials, and whom it trusts there."""

from __future__ import annotations

import asyncio
import logging
import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from corral.errors import CorralError
from corral.netenv import network_environment
from corral.node.controlurl import (
    control_plane_ssl_context,
    control_url_problem,
    unreachable_reason,
)
from corral.node.settings import NodeDaemonSettings
from tests.support.tls import ServerCertificate, TestAuthority

REFUSAL = "would cross the network in clear"


@pytest.mark.parametrize(
    "url",
    [
        "https://corral.example.com",
        "https://192.0.2.1:8443/",
        "http://127.0.0.1:8420",
        "http://127.9.8.7:8420",
        "http://[::1]:8420",
        "http://localhost:8420",
        "http://LocalHost.:8420",
        "http://[::ffff:127.0.0.1]:8420",
    ],
)
def test_https_anywhere_and_http_on_the_loopback_are_dialled(url: str) -> None:
    assert control_url_problem(url, insecure=False) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.1:9",
        "http://corral.example.com",
        "http://localhost.corral.example:8420",
        "http://127.0.0.1.nip.io:8420",
        "http://[2001:db8::1]:8420",
        "http://0.0.0.0:8420",
    ],
)
def test_http_to_another_machine_is_refused_saying_why_and_how(url: str) -> None:
    problem = control_url_problem(url, insecure=False)
    assert problem is not None
    assert url in problem and REFUSAL in problem
    assert "join token" in problem and "credential" in problem
    assert "https" in problem and "--insecure" in problem
    assert "\n" not in problem
    assert control_url_problem(url, insecure=True) is None


@pytest.mark.parametrize(
    "url",
    ["ftp://corral.example.com", "corral.example.com", "wss://corral.example.com", "https://"],
)
def test_what_is_not_an_http_url_is_refused(url: str) -> None:
    problem = control_url_problem(url, insecure=True)
    assert problem is not None and "must be an https URL" in problem


def test_the_settings_refuse_it_unless_insecure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = "http://192.0.2.1:9"
    with pytest.raises(ValidationError, match=REFUSAL):
        NodeDaemonSettings(data_dir=tmp_path, control_url=url)
    monkeypatch.setenv("CORRAL_NODE_CONTROL_URL", url)
    with pytest.raises(ValidationError, match=REFUSAL):
        NodeDaemonSettings(data_dir=tmp_path)
    assert NodeDaemonSettings(data_dir=tmp_path, insecure=True).control_url == url
    monkeypatch.setenv("CORRAL_NODE_INSECURE", "1")
    assert NodeDaemonSettings(data_dir=tmp_path).insecure
    assert NodeDaemonSettings(data_dir=tmp_path, control_url="http://127.0.0.1:8420").control_url


def _subjects(context: ssl.SSLContext) -> str:
    return " ".join(str(cert["subject"]) for cert in context.get_ca_certs())


@pytest.mark.parametrize("name", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"])
def test_a_ca_named_by_a_trust_store_variable_is_trusted(tmp_path: Path, name: str) -> None:
    authority = TestAuthority(tmp_path, common_name=f"CA from {name}")
    context = control_plane_ssl_context(network_environment({name: str(authority.ca_file)}))
    assert f"CA from {name}" in _subjects(context)
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED


def test_a_bundle_that_does_not_load_is_left_out_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bundle = tmp_path / "bundle.pem"
    bundle.write_text("not a certificate")
    with caplog.at_level(logging.WARNING, logger="corral.node"):
        context = control_plane_ssl_context(
            network_environment({"REQUESTS_CA_BUNDLE": str(bundle)})
        )
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert f"REQUESTS_CA_BUNDLE={bundle} is not used" in caplog.text


async def _handshake(served: ServerCertificate, client: ssl.SSLContext) -> None:
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(served.certfile, served.keyfile)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client)
        writer.close()
    finally:
        server.close()
        await server.wait_closed()


async def test_a_pinned_certificate_is_trusted_whatever_it_names_and_nothing_else(
    tmp_path: Path,
) -> None:
    """`corral up`'s local node: the served certificate names the public host, not 127.0.0.1."""
    authority = TestAuthority(tmp_path)
    served = authority.issue("corral.example.com")
    sibling = authority.issue("corral.example.com", stem="sibling")
    network = network_environment({"SSL_CERT_FILE": str(authority.ca_file)})
    await _handshake(served, control_plane_ssl_context(network, served.certfile, pin=True))
    # Only the leaf is pinned: the CA after it in the file signs no other certificate in.
    with pytest.raises(ssl.SSLCertVerificationError) as refused:
        await _handshake(sibling, control_plane_ssl_context(network, served.certfile, pin=True))
    wrapped = ConnectionError("connect failed")
    wrapped.__cause__ = refused.value
    assert "its certificate is not trusted" in unreachable_reason(wrapped)
    assert "SSL_CERT_FILE" in unreachable_reason(wrapped)
    assert unreachable_reason(ConnectionRefusedError()) == "ConnectionRefusedError"


async def test_a_ca_as_control_certificate_is_trusted_with_the_name_checked(
    tmp_path: Path,
) -> None:
    """A provider's node is given its control plane's private CA: any certificate it signs for
    the URL's name is trusted, and none for another name."""
    authority = TestAuthority(tmp_path)
    context = control_plane_ssl_context(network_environment({}), authority.ca_file)
    assert context.check_hostname
    await _handshake(authority.issue("127.0.0.1", stem="named"), context)
    with pytest.raises(ssl.SSLCertVerificationError, match="IP address mismatch"):
        await _handshake(authority.issue("corral.example.com", stem="other"), context)
    stranger = TestAuthority(tmp_path / "stranger").issue("127.0.0.1")
    with pytest.raises(ssl.SSLCertVerificationError):
        await _handshake(stranger, context)


def test_a_pinned_file_without_a_certificate_is_an_error(tmp_path: Path) -> None:
    network = network_environment({})
    with pytest.raises(CorralError, match="cannot read"):
        control_plane_ssl_context(network, tmp_path / "missing.pem")
    (tmp_path / "key.pem").write_text("-----BEGIN PRIVATE KEY-----\n")
    with pytest.raises(CorralError, match="holds no PEM certificate"):
        control_plane_ssl_context(network, tmp_path / "key.pem")
