"""The manifest Corral hands GitHub to make its App (GitHub's app manifest flow): what it is
called, where GitHub sends webhooks and browsers back to, and the permissions it asks for."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "APP_CREATED_PATH",
    "APP_EVENTS",
    "APP_PERMISSIONS",
    "CALLBACK_PATH",
    "WEBHOOK_PATH",
    "app_manifest",
]

APP_CREATED_PATH = "/github/app/created"
CALLBACK_PATH = "/auth/github/callback"
WEBHOOK_PATH = "/api/v1/github/webhooks"
_MAX_NAME_CHARS = 34  # GitHub refuses longer App names

APP_PERMISSIONS = {
    "contents": "write",  # clone private repositories, push a chat's branch
    "pull_requests": "write",  # open pull requests from a chat
    "metadata": "read",  # every App has it: list the repositories it is installed on
    "checks": "read",  # hear whether a pull request's checks passed
    "emails": "read",  # a user's address, for their commits' author line
}
APP_EVENTS = ["pull_request", "check_run"]


def app_name(public_url: str, instance_id: str) -> str:
    """ "Corral <host> <short id>": App names are unique across all of GitHub, and one host may
    have run several Corrals."""
    host = urlsplit(public_url).hostname or "corral"
    suffix = instance_id.rsplit("_", 1)[-1][-6:]
    room = _MAX_NAME_CHARS - len("Corral  ") - len(suffix)
    return f"Corral {host[:room]} {suffix}"


def app_manifest(public_url: str, instance_id: str) -> dict[str, Any]:
    base = public_url.rstrip("/")
    return {
        "name": app_name(base, instance_id),
        "url": base,
        "hook_attributes": {"url": f"{base}{WEBHOOK_PATH}", "active": True},
        "redirect_url": f"{base}{APP_CREATED_PATH}",
        "callback_urls": [f"{base}{CALLBACK_PATH}"],
        "public": False,
        "request_oauth_on_install": False,
        "default_permissions": dict(APP_PERMISSIONS),
        "default_events": list(APP_EVENTS),
    }
