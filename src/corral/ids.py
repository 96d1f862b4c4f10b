"""Identifiers: a kind prefix and a time-ordered random part, so ids sort by creation.

Lists page by id (see `corral.control.services.pagination`), which is why ids must be ordered.
We use the ULID layout (48 bits of milliseconds, 80 random bits, Crockford base32), made monotonic
within one process so that two ids made in the same millisecond still sort in the order made.
"""

from __future__ import annotations

import secrets
import threading
import time

__all__ = ["new_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_ms = 0
_last_random = 0


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars)).lower()


def new_id(prefix: str) -> str:
    """A new id such as `prj_01jd3x…`; later calls in this process sort after earlier ones."""
    global _last_ms, _last_random
    with _lock:
        now_ms = time.time_ns() // 1_000_000
        if now_ms <= _last_ms:
            now_ms = _last_ms
            _last_random += 1
        else:
            _last_random = secrets.randbits(79)
        _last_ms = now_ms
        return f"{prefix}_{_encode(now_ms, 10)}{_encode(_last_random, 16)}"
