"""Secret tokens: how they are made, and the one-way hash under which they are stored.

Tokens carry 256 random bits, so a plain SHA-256 is a safe store (no password-style stretching is
needed) and lets a lookup find the row by its hash in one indexed query.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["hash_token", "new_token"]


def new_token(prefix: str) -> str:
    """A new secret such as `crl_…`; the prefix tells people and secret scanners what it is."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
