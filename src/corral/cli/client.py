"""The CLI's connection to a control plane: saved login, HTTP calls, errors as one line."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from corral import __version__
from corral.cli.output import CliError
from corral.settings import ClientSettings

__all__ = ["ApiClient", "SavedLogin", "load_login", "open_client", "save_login", "segment"]

CONFIG_FILE_NAME = "login.json"
PAGE_SIZE = 200
MAX_PAGES = 1000


def segment(value: str) -> str:
    """One path segment from user input, so a name like `../x` cannot reach another route."""
    if value in ("", ".", ".."):
        raise CliError(f"{value!r} is not a name or id")
    return quote(value, safe="")


@dataclass(frozen=True)
class SavedLogin:
    url: str
    token: str


def _config_path(settings: ClientSettings) -> Path:
    return settings.config_dir / CONFIG_FILE_NAME


def load_login(settings: ClientSettings) -> SavedLogin | None:
    path = _config_path(settings)
    saved: dict[str, Any] = {}
    if path.exists():
        try:
            saved = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise CliError(f"cannot read {path}: run `corral login` again") from exc
    url = settings.url or saved.get("url")
    token = settings.token.get_secret_value() if settings.token else saved.get("token")
    if not url or not token:
        return None
    return SavedLogin(url=str(url).rstrip("/"), token=str(token))


def save_login(settings: ClientSettings, login: SavedLogin) -> Path:
    """Write the login readable by its owner only (it holds an API token)."""
    path = _config_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(path.name + ".tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"url": login.url, "token": login.token}, handle)
    os.replace(tmp, path)
    return path


def forget_login(settings: ClientSettings) -> None:
    _config_path(settings).unlink(missing_ok=True)


class ApiClient:
    """Calls the REST API and turns every failure into a `CliError` with the server's message."""

    def __init__(self, url: str, token: str | None, timeout_seconds: float) -> None:
        headers = {"User-Agent": f"corral-cli/{__version__}"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.url = url
        self._http = httpx.Client(base_url=url, headers=headers, timeout=timeout_seconds)

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, f"/api/v1{path}", **kwargs)
        except httpx.TimeoutException as exc:
            raise CliError(f"Corral at {self.url} did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise CliError(
                f"cannot reach Corral at {self.url} ({type(exc).__name__}); is it running?"
            ) from exc
        if response.is_success:
            if not response.content:
                return None
            try:
                return response.json()
            except ValueError:
                raise CliError(
                    f"{self.url} answered with something that is not Corral's API; "
                    "is the URL right?"
                ) from None
        raise CliError(_error_message(response))

    def get(self, path: str, **params: Any) -> Any:
        clean = {key: value for key, value in params.items() if value is not None}
        return self.request("GET", path, params=clean)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body)

    def patch(self, path: str, body: Any) -> Any:
        return self.request("PATCH", path, json=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def get_all(self, path: str, **params: Any) -> list[Any]:
        """Follow `next_cursor` through every page of a list."""
        items: list[Any] = []
        cursor = None
        for _ in range(MAX_PAGES):
            page = self.get(path, cursor=cursor, limit=PAGE_SIZE, **params)
            items.extend(page["items"])
            cursor = page.get("next_cursor")
            if not cursor:
                return items
        raise CliError(f"{path} has more than {MAX_PAGES * PAGE_SIZE} items; stopped listing")


def _error_message(response: httpx.Response) -> str:
    try:
        error = response.json()["error"]
        message = str(error["message"])
    except (ValueError, KeyError, TypeError):
        return f"Corral answered {response.status_code} {response.reason_phrase}"
    if error.get("code") in ("token_invalid", "token_revoked"):
        message += "; sign in again with `corral login`"
    return message


def open_client(settings: ClientSettings | None = None) -> ApiClient:
    settings = settings or ClientSettings()
    login = load_login(settings)
    if login is None:
        raise CliError("not signed in: run `corral login LINK` with a link from `corral auth link`")
    return ApiClient(login.url, login.token, settings.timeout_seconds)
