"""Encryption of stored credentials: AES-256-GCM with a random nonce per value.

The associated data binds each ciphertext to its row, owner and kind, so a value copied into
another row (or another user's row) fails to decrypt instead of leaking. Every ciphertext records
the id of the key that made it; the box can hold several keys so that a key rotation interrupted
half-way still leaves every row readable.

The key comes from `CORRAL_SECRET_KEY`, or else from `secret.key` in the data directory, made on
first use with mode 0600. A rotation writes the new key to `secret.key.next` first, re-encrypts
every row in one transaction, then renames the file over the old one.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
from pathlib import Path
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from corral.errors import CorralError
from corral.settings import Settings

__all__ = [
    "KEY_FILE_NAME",
    "NEXT_KEY_FILE_NAME",
    "SealedRow",
    "SealedValue",
    "SecretBox",
    "SecretBoxError",
    "load_secret_box",
    "parse_key",
    "write_key_file",
]

KEY_FILE_NAME = "secret.key"
NEXT_KEY_FILE_NAME = "secret.key.next"
KEY_BYTES = 32
NONCE_BYTES = 12


class SecretBoxError(CorralError):
    reason = "secret_key_error"


SealedValue = tuple[str, bytes, bytes]
"""(key id, nonce, ciphertext) as stored in a credential row."""


def key_id(key: bytes) -> str:
    return hashlib.sha256(b"corral-key-id\0" + key).hexdigest()[:16]


def parse_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise SecretBoxError("a secret key must be the base64 encoding of exactly 32 bytes")
    return key


class SecretBox:
    """Seals values under the current key and opens values sealed under any key it holds."""

    def __init__(self, current: bytes, *, others: tuple[bytes, ...] = ()) -> None:
        self.current_key_id = key_id(current)
        self._keys = {key_id(k): k for k in (*others, current)}

    def seal(self, plaintext: str, associated_data: bytes) -> SealedValue:
        nonce = os.urandom(NONCE_BYTES)
        key = self._keys[self.current_key_id]
        ciphertext = AESGCM(key).encrypt(nonce, plaintext.encode(), associated_data)
        return self.current_key_id, nonce, ciphertext

    def open(self, sealed: SealedValue, associated_data: bytes) -> str:
        kid, nonce, ciphertext = sealed
        key = self._keys.get(kid)
        if key is None:
            raise SecretBoxError(
                "a credential was encrypted with a key this control plane does not have; "
                "set CORRAL_SECRET_KEY or restore the key file it was made with"
            )
        try:
            return AESGCM(key).decrypt(nonce, ciphertext, associated_data).decode()
        except InvalidTag as exc:
            raise SecretBoxError("a credential failed its integrity check") from exc

    def holds(self, kid: str) -> bool:
        return kid in self._keys

    def derive(self, purpose: str) -> bytes:
        """A key for `purpose` (signing calls between replicas, say) from the current key:
        processes that share the secret key share it, and it reveals nothing of the key."""
        return hmac.new(self._keys[self.current_key_id], purpose.encode(), hashlib.sha256).digest()


class SealedRow(Protocol):
    """A table row that keeps one sealed value in three columns (credentials, the GitHub App,
    linked GitHub accounts)."""

    key_id: str
    nonce: bytes
    ciphertext: bytes


def reseal(row: SealedRow, associated_data: bytes, old: SecretBox, new: SecretBox) -> None:
    """Seal `row`'s value again under `new`'s current key (a key rotation)."""
    plaintext = old.open((row.key_id, row.nonce, row.ciphertext), associated_data)
    row.key_id, row.nonce, row.ciphertext = new.seal(plaintext, associated_data)


def write_key_file(path: Path, key: bytes) -> None:
    """Write a key readable by its owner only; the file is never created with looser modes."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(base64.b64encode(key).decode() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def load_secret_box(settings: Settings) -> SecretBox:
    if settings.secret_key is not None:
        return SecretBox(parse_key(settings.secret_key.get_secret_value()))
    path = settings.data_dir / KEY_FILE_NAME
    if not path.exists():
        write_key_file(path, os.urandom(KEY_BYTES))
    current = parse_key(path.read_text())
    next_path = settings.data_dir / NEXT_KEY_FILE_NAME
    others = (parse_key(next_path.read_text()),) if next_path.exists() else ()
    return SecretBox(current, others=others)
