"""URLs the control plane hands out, built from the public URL in one place."""

from __future__ import annotations

from urllib.parse import urlencode

from corral.settings import Settings

__all__ = ["LOGIN_PATH", "login_url"]

LOGIN_PATH = "/auth/login"


def login_url(settings: Settings, token: str, base_url: str | None = None) -> str:
    base = (base_url or settings.effective_public_url).rstrip("/")
    return f"{base}{LOGIN_PATH}?{urlencode({'token': token})}"
