"""A GitHub App proves who it is with a short JWT signed by its private key (RS256); with that
JWT it asks for installation access tokens, which do the real work for one hour."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import jwt

__all__ = ["AppKey", "app_jwt"]

# GitHub refuses a JWT that lives longer than ten minutes; issue it a minute in the past so a
# control plane whose clock runs a little ahead is not refused either.
_JWT_LIFETIME_SECONDS = 540
_CLOCK_SKEW_SECONDS = 60


@dataclass(frozen=True)
class AppKey:
    """What signs the App's JWTs (opened from the sealed App row only for the request)."""

    app_id: int
    private_key: str = field(repr=False)


def app_jwt(key: AppKey, *, now: float | None = None) -> str:
    issued = int(now if now is not None else time.time()) - _CLOCK_SKEW_SECONDS
    claims = {"iat": issued, "exp": issued + _JWT_LIFETIME_SECONDS, "iss": str(key.app_id)}
    return jwt.encode(claims, key.private_key, algorithm="RS256")
