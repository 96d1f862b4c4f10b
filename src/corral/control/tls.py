"""Serving HTTPS directly: the certificate and key are checked before anything listens.

uvicorn loads them itself (`ssl_certfile`, `ssl_keyfile`) and, with a missing or mismatched
file, fails with OpenSSL's words in a traceback; an encrypted key would even make OpenSSL ask for
its passphrase on the terminal of a service. Loading them once here first turns each of those
into one line saying which file is wrong and how.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import NoReturn

from corral.errors import InvalidInput
from corral.settings import Settings

__all__ = ["check_tls_files"]


class _Encrypted(Exception):
    """OpenSSL asked for the key's passphrase."""


def _refuse_passphrase() -> NoReturn:
    raise _Encrypted


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(
            f"cannot serve HTTPS: cannot read the TLS {what} {path}: {exc.strerror}",
            reason="tls_file_unreadable",
        ) from None


def check_tls_files(settings: Settings) -> None:
    """Raise `InvalidInput` unless `tls_certfile` and `tls_keyfile` (when set) load as a
    certificate and its unencrypted key; nothing to check without TLS."""
    certfile = settings.tls_certfile
    if certfile is None:
        return
    keyfile = settings.tls_keyfile or certfile
    if b"-----BEGIN CERTIFICATE-----" not in _read(certfile, "certificate"):
        raise InvalidInput(
            f"cannot serve HTTPS: {certfile} holds no PEM certificate", reason="tls_bad_file"
        )
    if b"PRIVATE KEY-----" not in _read(keyfile, "key"):
        raise InvalidInput(
            f"cannot serve HTTPS: {keyfile} holds no PEM private key", reason="tls_bad_file"
        )
    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER).load_cert_chain(
            certfile, settings.tls_keyfile, _refuse_passphrase
        )
    except _Encrypted:
        raise InvalidInput(
            f"cannot serve HTTPS: the key {keyfile} is encrypted; give Corral an unencrypted "
            "copy readable only by its user (openssl pkey -in KEY -out PLAIN)",
            reason="tls_key_encrypted",
        ) from None
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            why = f"the key {keyfile} does not belong to the certificate {certfile}"
        else:
            why = f"{certfile} and {keyfile} do not load as a certificate and its key ({exc})"
        raise InvalidInput(f"cannot serve HTTPS: {why}", reason="tls_bad_file") from None
