"""The `state` Corral sends through GitHub's redirects (sign-in, the App manifest), sealed.

GitHub hands `state` back unchanged on the redirect to Corral. Sealing it with the secret box
(AES-GCM: authenticated, and opaque to the browser) lets any control-plane process sharing the
database and key check it, with no table of pending flows: a forged or altered state fails to
open, an old one has expired, and one made for the other flow fails its associated data. What
makes it single-use is the caller's: a random nonce also kept in a short-lived cookie of the
browser that started the flow (and cleared when used), or the App row that exists once made.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from corral.control.secretbox import SecretBox, SecretBoxError
from corral.errors import Unauthenticated

__all__ = ["FlowState", "open_state", "seal_state"]

Purpose = Literal["signin", "manifest"]
_MAX_STATE_CHARS = 2000


@dataclass(frozen=True)
class FlowState:
    purpose: Purpose
    nonce: str
    user_id: str | None
    """Who started it: the user to link (sign-in), the owner (manifest); None to sign in."""
    next_path: str
    expires_at: float


def _associated_data(purpose: Purpose) -> bytes:
    return f"corral/github-state/v1\0{purpose}".encode()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def seal_state(
    box: SecretBox,
    purpose: Purpose,
    *,
    user_id: str | None,
    ttl_seconds: float,
    next_path: str = "/",
) -> tuple[str, FlowState]:
    """A new state (with a fresh random nonce), and what it holds."""
    flow = FlowState(
        purpose=purpose,
        nonce=secrets.token_urlsafe(24),
        user_id=user_id,
        next_path=next_path,
        expires_at=time.time() + ttl_seconds,
    )
    payload = {"n": flow.nonce, "u": flow.user_id, "p": flow.next_path, "e": flow.expires_at}
    key_id, nonce, ciphertext = box.seal(json.dumps(payload), _associated_data(purpose))
    return f"{key_id}.{_b64(nonce)}.{_b64(ciphertext)}", flow


def open_state(box: SecretBox, purpose: Purpose, text: str) -> FlowState:
    """What `text` holds; `Unauthenticated` when it is not one of ours or has expired."""
    refused = Unauthenticated(
        "this GitHub sign-in is not valid or has expired: start again from Corral",
        reason="github_state_invalid",
    )
    parts = text.split(".")
    if len(text) > _MAX_STATE_CHARS or len(parts) != 3:
        raise refused
    try:
        sealed = (parts[0], _unb64(parts[1]), _unb64(parts[2]))
        payload = json.loads(box.open(sealed, _associated_data(purpose)))
        flow = FlowState(
            purpose=purpose,
            nonce=str(payload["n"]),
            user_id=payload["u"],
            next_path=str(payload["p"]),
            expires_at=float(payload["e"]),
        )
    except (SecretBoxError, binascii.Error, ValueError, KeyError, TypeError):
        raise refused from None
    if flow.expires_at < time.time():
        raise Unauthenticated(
            "this GitHub sign-in took too long and has expired: start again from Corral",
            reason="github_state_expired",
        )
    return flow
