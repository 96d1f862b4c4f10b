"""Which variables say how a machine reaches the network, and which of them are passed on."""

from __future__ import annotations

from pathlib import Path

import pytest

from corral.netenv import is_loopback_host, network_environment, network_variables, proxy_for


def test_proxies_trust_stores_and_npm_settings_are_passed_on(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("certificate")
    environ = {
        "HTTPS_PROXY": "http://proxy.example:3128",
        "no_proxy": "localhost,.internal",
        "SSL_CERT_FILE": str(ca),
        "npm_config_cafile": str(ca),
        "npm_config_registry": "https://registry.example/",
        "COMPANY_CA": "/etc/company.pem",
        "HOME": "/root",
        "AWS_SECRET_ACCESS_KEY": "never",
    }
    network = network_environment(environ, extra=["COMPANY_CA"])
    assert network.values == {
        "HTTPS_PROXY": "http://proxy.example:3128",
        "no_proxy": "localhost,.internal",
        "SSL_CERT_FILE": str(ca),
        "npm_config_cafile": str(ca),
        "npm_config_registry": "https://registry.example/",
        "COMPANY_CA": "/etc/company.pem",
    }
    assert network.problems == []
    assert network.readable_paths() == [str(ca)]


def test_npm_settings_that_hold_credentials_are_never_passed_on() -> None:
    environ = {
        "npm_config__authToken": "t0ken",
        "npm_config_//registry.npmjs.org/:_authToken": "t0ken",
        "npm_config_password": "pw",
        "npm_config_key": "-----BEGIN PRIVATE KEY-----",
        "npm_config_cache": "/var/cache/npm",
    }
    assert network_variables(environ) == {"npm_config_cache": "/var/cache/npm"}
    assert "t0ken" not in str(network_environment(environ))


def test_a_bad_value_is_left_out_and_said_why_without_its_secret(tmp_path: Path) -> None:
    environ = {
        "HTTP_PROXY": "http://user:s3cret@:3128",
        "HTTPS_PROXY": "ftp://proxy.example",
        "ALL_PROXY": "http://proxy.example:99999",
        "NODE_EXTRA_CA_CERTS": str(tmp_path / "missing.pem"),
        "SSL_CERT_DIR": "/etc/ssl/certs\nEVIL=1",
    }
    network = network_environment(environ)
    assert network.values == {}
    problems = "\n".join(network.problems)
    assert "HTTP_PROXY is left out: it names no host" in problems
    assert "HTTPS_PROXY is left out: 'ftp' is not a proxy scheme" in problems
    assert "ALL_PROXY is left out: it is not a URL" in problems
    assert f"NODE_EXTRA_CA_CERTS is left out: {tmp_path / 'missing.pem'} does not exist" in problems
    assert "SSL_CERT_DIR is left out: its value is too long or holds control characters" in problems
    assert "s3cret" not in problems


def test_a_proxy_on_the_loopback_is_told_apart() -> None:
    environ = {
        "HTTPS_PROXY": "http://127.0.0.1:3128",
        "http_proxy": "localhost:8080",
        "ALL_PROXY": "socks5://proxy.example:1080",
    }
    assert network_environment(environ).loopback_proxies() == ["HTTPS_PROXY", "http_proxy"]


def test_the_proxy_for_a_url_honours_no_proxy_and_never_serves_the_loopback() -> None:
    environ = {
        "https_proxy": "http://proxy.example:3128",
        "HTTP_PROXY": "http://plain.example:8080",
        "NO_PROXY": "internal.example, .corp:443,[fd00::1]",
    }
    assert proxy_for("wss://control.example.com/api", environ) == "http://proxy.example:3128"
    assert proxy_for("http://control.example.com/", environ) == "http://plain.example:8080"
    assert proxy_for("https://internal.example/", environ) is None
    assert proxy_for("https://a.b.corp/", environ) is None
    assert proxy_for("https://[fd00::1]:8420/", environ) is None
    for loopback in ("http://127.0.0.1:8420/", "ws://localhost:8420/x", "https://[::1]/"):
        assert proxy_for(loopback, environ) is None
    assert proxy_for("https://x.example/", {"ALL_PROXY": "socks5://s.example:1080"}) == (
        "socks5://s.example:1080"
    )
    assert proxy_for("https://x.example/", {"HTTPS_PROXY": "not a url ::"}) is None


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("127.0.0.1", True),
        ("127.255.0.9", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("128.0.0.1", False),
        ("0.0.0.0", False),  # noqa: S104  (a wildcard, not the loopback)
        ("localhost.example", False),
        ("127.0.0.1.nip.io", False),
        ("example.com", False),
        ("", False),
    ],
)
def test_the_loopback_is_told_by_the_name_alone(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback
