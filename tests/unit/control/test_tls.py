"""The checks `corral serve` makes of its certificate and key before it listens."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from corral.control.tls import check_tls_files
from corral.errors import InvalidInput
from corral.settings import Settings, load_settings
from tests.support.tls import ServerCertificate, TestAuthority


@pytest.fixture
def served(tmp_path: Path) -> ServerCertificate:
    return TestAuthority(tmp_path / "pki").issue("127.0.0.1")


def settings(tmp_path: Path, certfile: Path | None, keyfile: Path | None = None) -> Settings:
    return load_settings(data_dir=tmp_path / "data", tls_certfile=certfile, tls_keyfile=keyfile)


def refusal(settings: Settings) -> str:
    with pytest.raises(InvalidInput) as refused:
        check_tls_files(settings)
    assert "\n" not in refused.value.message
    return refused.value.message


def test_a_certificate_and_its_key_pass_in_two_files_or_one(
    tmp_path: Path, served: ServerCertificate
) -> None:
    check_tls_files(settings(tmp_path, None))
    check_tls_files(settings(tmp_path, served.certfile, served.keyfile))
    combined = tmp_path / "combined.pem"
    combined.write_bytes(served.keyfile.read_bytes() + served.certfile.read_bytes())
    check_tls_files(settings(tmp_path, combined))


def test_unreadable_or_wrong_files_are_named(tmp_path: Path, served: ServerCertificate) -> None:
    missing = tmp_path / "missing.pem"
    assert f"cannot read the TLS certificate {missing}" in refusal(
        settings(tmp_path, missing, served.keyfile)
    )
    assert f"cannot read the TLS key {missing}" in refusal(
        settings(tmp_path, served.certfile, missing)
    )
    assert f"{served.keyfile} holds no PEM certificate" in refusal(
        settings(tmp_path, served.keyfile, served.keyfile)
    )
    assert "holds no PEM private key" in refusal(settings(tmp_path, served.certfile))
    other = TestAuthority(tmp_path / "other").issue("127.0.0.1")
    assert f"the key {other.keyfile} does not belong to the certificate" in refusal(
        settings(tmp_path, served.certfile, other.keyfile)
    )


def test_an_encrypted_key_is_refused_without_asking_for_its_passphrase(
    tmp_path: Path, served: ServerCertificate
) -> None:
    key = serialization.load_pem_private_key(served.keyfile.read_bytes(), password=None)
    encrypted = tmp_path / "encrypted.pem"
    encrypted.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"passphrase"),
        )
    )
    assert f"the key {encrypted} is encrypted" in refusal(
        settings(tmp_path, served.certfile, encrypted)
    )
