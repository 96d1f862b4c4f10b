"""Signed calls between replicas: only processes holding the secret key can make them, each
call is accepted once, and only by the replica it was made for.

A forwarded call names a node (and a terminal); the replica that holds the node's link trusts
it because the call carries an HMAC, under a key derived from the secret key every replica of
one installation shares, over its method, path, body, the replica it is for, a nonce and an
expiry a few seconds ahead. The receiver remembers the nonces it accepted until they expire, so
a call captured on the network cannot be played again. The expiry compares clocks: keep the
replicas' clocks in sync (NTP).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections import deque

from corral.errors import Unauthenticated

__all__ = ["SIGNATURE_HEADER", "SIGNATURE_TTL_SECONDS", "SIGNING_KEY_PURPOSE", "ReplicaSigner"]

SIGNATURE_HEADER = "X-Corral-Replica-Signature"
SIGNATURE_TTL_SECONDS = 10
"""How long a signed call may take to arrive, clock differences between replicas included."""
SIGNING_KEY_PURPOSE = "corral replica calls v1"
"""What the signing key is derived from the secret key for (`SecretBox.derive`)."""
MAX_REMEMBERED_NONCES = 100_000


class ReplicaSigner:
    def __init__(self, key: bytes, replica_id: str, ttl_seconds: float = SIGNATURE_TTL_SECONDS):
        self._key = key
        self._replica_id = replica_id
        self._ttl = ttl_seconds
        self._seen: set[str] = set()
        """Nonces accepted and not yet expired: a call is accepted once."""
        self._expiring: deque[tuple[float, str]] = deque()

    def _mac(
        self, method: str, target: str, body: bytes, audience: str, nonce: str, expires: int
    ) -> str:
        digest = hashlib.sha256(body).hexdigest()
        message = f"{method.upper()}\n{target}\n{audience}\n{nonce}\n{expires}\n{digest}"
        return hmac.new(self._key, message.encode(), hashlib.sha256).hexdigest()

    def sign(self, method: str, target: str, audience: str, body: bytes = b"") -> dict[str, str]:
        """The header that signs a call of `method` to `target` (path and query) on the
        replica `audience`."""
        expires = int(time.time() + self._ttl)
        nonce = secrets.token_hex(16)
        mac = self._mac(method, target, body, audience, nonce, expires)
        return {SIGNATURE_HEADER: f"{expires}.{nonce}.{mac}"}

    def verify(self, signature: str | None, method: str, target: str, body: bytes = b"") -> None:
        """Raise `Unauthenticated` unless `signature` signs this call, for this replica, has
        not expired and was not used before."""
        expires_text, nonce, mac = [*(signature or "").split(".", 2), "", ""][:3]
        if not expires_text.isdigit() or not nonce or not mac:
            raise Unauthenticated("this route takes only signed calls from other replicas")
        expires, now = int(expires_text), time.time()
        if expires < now or expires > now + 2 * self._ttl:
            raise Unauthenticated("the replica call's signature has expired")
        expected = self._mac(method, target, body, self._replica_id, nonce, expires)
        if not hmac.compare_digest(mac, expected):
            raise Unauthenticated("the replica call's signature does not match")
        self._forget_expired(now)
        if nonce in self._seen:
            raise Unauthenticated("the replica call was already made")
        if len(self._seen) >= MAX_REMEMBERED_NONCES:
            raise Unauthenticated("too many replica calls at once; try again")
        self._seen.add(nonce)
        self._expiring.append((expires, nonce))

    def _forget_expired(self, now: float) -> None:
        # Calls arrive in about the order they expire; one out of order is kept a little long.
        while self._expiring and self._expiring[0][0] < now:
            self._seen.discard(self._expiring.popleft()[1])
