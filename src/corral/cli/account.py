"""Commands about who you are to a control plane: `login`, `logout`, `whoami`."""

from __future__ import annotations

import socket
import sys
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

import typer

from corral.cli.client import ApiClient, SavedLogin, forget_login, open_client, save_login
from corral.cli.output import CliError, console, print_json
from corral.settings import ClientSettings

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def login(
    url: Annotated[str, typer.Argument(help="A login link, or the control plane's URL.")],
) -> None:
    """Sign the CLI in with a login link, or with an API token (asked for, or read from stdin)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise CliError(f"not a URL: {url!r}; pass the login link printed by `corral up`")
    base = f"{parts.scheme}://{parts.netloc}"
    settings = ClientSettings()
    link_token = parse_qs(parts.query).get("token", [None])[0]
    with ApiClient(base, None, settings.timeout_seconds) as client:
        if link_token:
            name = f"cli@{socket.gethostname()}"[:100]
            result = client.post("/auth/exchange", {"token": link_token, "token_name": name})
            token, user = result["token"]["token"], result["user"]
        else:
            token = _read_api_token()
            with ApiClient(base, token, settings.timeout_seconds) as token_client:
                user = token_client.get("/me")
    path = save_login(settings, SavedLogin(url=base, token=token))
    console.print(f"Signed in to {base} as {user['name']}; token saved in {path}.")


def _read_api_token() -> str:
    if sys.stdin.isatty():
        token = str(typer.prompt("API token", hide_input=True))
    else:
        token = sys.stdin.readline()
    token = token.strip()
    if not token:
        raise CliError("no API token given")
    return token


def logout() -> None:
    """Revoke the CLI's API token and forget it."""
    settings = ClientSettings()
    with open_client(settings) as client:
        client.post("/auth/logout")
    if settings.token is None:  # a token from CORRAL_TOKEN is not the saved one
        forget_login(settings)
    console.print("Signed out.")


def whoami(as_json: JsonFlag = False) -> None:
    """Show the signed-in user and the control plane."""
    with open_client() as client:
        user = client.get("/me")
        if as_json:
            print_json(user)
            return
        console.print(f"{user['name']} ({user['role']}) at {client.url}")
