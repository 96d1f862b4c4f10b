"""GitHub's REST API and OAuth endpoints, the part Corral uses, over httpx.

One small class rather than a generated SDK: Corral calls about fifteen endpoints, and each
call here says which token it needs (a user's, the App's JWT, an installation's). Base URLs
come from `[github]` settings, so GitHub Enterprise Server (and the tests' local fake) work
the same way. Every failure is a `ProviderError` whose message names what failed and never
holds a token; `retryable` says whether trying later may help (GitHub down, rate limited).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit

import httpx

from corral import __version__
from corral.control.github.appauth import AppKey, app_jwt
from corral.errors import ProviderError
from corral.settings import GitHubSettings

__all__ = [
    "AppCredentials",
    "GitHubClient",
    "GitHubUser",
    "Installation",
    "InstallationToken",
    "Pull",
    "Repository",
    "UserToken",
]

T = TypeVar("T")
_API_VERSION = "2022-11-28"
_MAX_PAGES = 20  # at 100 a page: 2,000 installations or repositories, more than anyone picks from


@dataclass(frozen=True)
class UserToken:
    access_token: str = field(repr=False)
    expires_at: datetime | None = None
    refresh_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class GitHubUser:
    id: int
    login: str
    name: str | None
    email: str | None


@dataclass(frozen=True)
class AppCredentials:
    """What GitHub sends back once, when it makes the App from Corral's manifest."""

    id: int
    slug: str
    name: str
    client_id: str
    html_url: str
    owner_login: str | None
    client_secret: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    pem: str = field(repr=False)


@dataclass(frozen=True)
class Installation:
    id: int
    account: str
    html_url: str | None


@dataclass(frozen=True)
class Repository:
    id: int
    full_name: str
    private: bool
    default_branch: str
    clone_url: str
    html_url: str


@dataclass(frozen=True)
class InstallationToken:
    token: str = field(repr=False)
    expires_at: datetime


@dataclass(frozen=True)
class Pull:
    number: int
    html_url: str
    state: str
    title: str


class GitHubClient:
    """One per use (`async with GitHubClient(settings) as github:`): requests are few and far
    between, and each use may carry a different token."""

    def __init__(
        self, settings: GitHubSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        self.web_url = settings.web_url.rstrip("/")
        self.api_url = settings.api_url.rstrip("/")
        self._http = httpx.AsyncClient(
            timeout=settings.request_timeout_seconds,
            transport=transport,
            headers={"User-Agent": f"corral/{__version__}"},
        )

    async def __aenter__(self) -> GitHubClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    @property
    def git_host(self) -> tuple[str, str]:
        """The protocol and host (with port) of GitHub's git remotes: its web address's."""
        parts = urlsplit(self.web_url)
        return parts.scheme, parts.netloc

    # -- OAuth (sign-in, and the user token that lists a user's installations) --------------

    def authorize_url(self, *, client_id: str, redirect_uri: str, state: str) -> str:
        query = urlencode({"client_id": client_id, "redirect_uri": redirect_uri, "state": state})
        return f"{self.web_url}/login/oauth/authorize?{query}"

    async def exchange_code(
        self, *, client_id: str, client_secret: str, code: str, redirect_uri: str
    ) -> UserToken:
        return await self._user_token(
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "code": code,
                "redirect_uri": redirect_uri,
            }
        )

    async def refresh_user_token(
        self, *, client_id: str, client_secret: str, refresh_token: str
    ) -> UserToken:
        return await self._user_token(
            {
                "client_id": client_id,
                "client_secret": client_secret,
                "grant_type": "refresh_token",
                "refresh_token": refresh_token,
            }
        )

    async def _user_token(self, form: dict[str, str]) -> UserToken:
        body = await self._send(
            "POST", f"{self.web_url}/login/oauth/access_token", data=form, what="sign-in"
        )
        if "error" in body or not isinstance(body.get("access_token"), str):
            # GitHub answers 200 with an error code for a bad or used code, a wrong secret.
            description = str(body.get("error_description") or body.get("error") or "no token")
            raise ProviderError(
                f"GitHub did not sign you in: {description[:200]}", reason="github_oauth_failed"
            )
        expires_in = body.get("expires_in")
        return UserToken(
            access_token=body["access_token"],
            expires_at=_after(expires_in) if isinstance(expires_in, int) else None,
            refresh_token=body.get("refresh_token") or None,
        )

    async def user(self, token: str) -> GitHubUser:
        what = "your GitHub profile"
        body = await self._api("GET", "/user", token=token, what=what)
        return _convert(
            lambda b: GitHubUser(
                id=int(b["id"]), login=str(b["login"]), name=b.get("name"), email=b.get("email")
            ),
            body,
            what,
        )

    async def user_organizations(self, token: str) -> list[str]:
        items = await self._pages("/user/orgs", token=token, what="your organisations")
        return _convert(lambda b: [str(item["login"]) for item in b], items, "organisations")

    async def user_installations(self, token: str) -> list[Installation]:
        items = await self._pages(
            "/user/installations",
            token=token,
            what="the App's installations you can use",
            key="installations",
        )
        return _convert(lambda b: [_installation(i) for i in b], items, "installations")

    async def installation_repositories(self, token: str, installation_id: int) -> list[Repository]:
        items = await self._pages(
            f"/user/installations/{installation_id}/repositories",
            token=token,
            what="the installation's repositories",
            key="repositories",
        )
        return _convert(lambda b: [_repository(i) for i in b], items, "repositories")

    async def ssh_host_keys(self) -> list[str]:
        """The host keys GitHub publishes for its SSH remotes (`GET /meta`'s `ssh_keys`), each
        `type base64` as in a known_hosts line."""
        what = "GitHub's SSH host keys"
        body = await self._api("GET", "/meta", token=None, what=what)
        return _convert(lambda b: [_host_key(str(key)) for key in b["ssh_keys"]], body, what)

    # -- The App -------------------------------------------------------------------------------

    def manifest_url(self, *, organization: str | None, state: str) -> str:
        """Where the browser posts the manifest (GitHub's app manifest flow)."""
        path = (
            f"/organizations/{organization}/settings/apps/new"
            if organization
            else "/settings/apps/new"
        )
        return f"{self.web_url}{path}?{urlencode({'state': state})}"

    async def convert_manifest(self, code: str) -> AppCredentials:
        body = await self._api(
            "POST", f"/app-manifests/{code}/conversions", token=None, what="the new App"
        )
        return _convert(_app_credentials, body, "the new App")

    async def installation_token(
        self,
        key: AppKey,
        installation_id: int,
        *,
        repository: str | None = None,
        permissions: dict[str, str] | None = None,
    ) -> InstallationToken:
        """A token of one installation, narrowed to one repository (its name without the owner)
        and to `permissions` when given: what leaks with it is no more than what it was for."""
        payload: dict[str, Any] = {}
        if repository is not None:
            payload["repositories"] = [repository]
        if permissions is not None:
            payload["permissions"] = permissions
        body = await self._api(
            "POST",
            f"/app/installations/{installation_id}/access_tokens",
            token=app_jwt(key),
            bearer=True,
            json=payload,
            what="an installation token",
        )
        return _convert(_installation_token, body, "an installation token")

    async def revoke_installation_token(self, token: str) -> None:
        await self._api("DELETE", "/installation/token", token=token, what="the used token")

    # -- Repositories and pull requests ----------------------------------------------------------

    async def repository(self, token: str | None, full_name: str) -> Repository:
        body = await self._api("GET", f"/repos/{full_name}", token=token, what=full_name)
        return _convert(_repository, body, full_name)

    async def open_pull(self, token: str, full_name: str, *, head: str) -> Pull | None:
        """The open pull request from `head` (owner:branch), if there is one."""
        body = await self._api(
            "GET",
            f"/repos/{full_name}/pulls",
            token=token,
            params={"head": head, "state": "open"},
            what=f"{full_name}'s pull requests",
        )
        items = body if isinstance(body, list) else []
        return _convert(_pull, items[0], "a pull request") if items else None

    async def create_pull(
        self,
        token: str,
        full_name: str,
        *,
        title: str,
        head: str,
        base: str,
        body: str,
        draft: bool,
    ) -> Pull:
        answer = await self._api(
            "POST",
            f"/repos/{full_name}/pulls",
            token=token,
            json={"title": title, "head": head, "base": base, "body": body, "draft": draft},
            what=f"a pull request on {full_name}",
        )
        return _convert(_pull, answer, "the new pull request")

    # -- Plumbing ----------------------------------------------------------------------------------

    async def _pages(
        self, path: str, *, token: str, what: str, key: str | None = None
    ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in range(1, _MAX_PAGES + 1):
            body = await self._api(
                "GET", path, token=token, params={"per_page": 100, "page": page}, what=what
            )
            batch = body.get(key, []) if key is not None and isinstance(body, dict) else body
            if not isinstance(batch, list):
                break
            items.extend(batch)
            if len(batch) < 100:
                break
        return items

    async def _api(
        self,
        method: str,
        path: str,
        *,
        token: str | None,
        what: str,
        bearer: bool = False,
        **kwargs: Any,
    ) -> Any:
        headers = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": _API_VERSION}
        if token is not None:
            headers["Authorization"] = f"{'Bearer' if bearer else 'token'} {token}"
        return await self._send(
            method, f"{self.api_url}{path}", headers=headers, what=what, **kwargs
        )

    async def _send(self, method: str, url: str, *, what: str, **kwargs: Any) -> Any:
        headers = {"Accept": "application/json", **kwargs.pop("headers", {})}
        try:
            response = await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.TimeoutException:
            raise ProviderError(
                f"GitHub did not answer within {self.settings.request_timeout_seconds:g} s "
                f"(asking for {what})",
                reason="github_unavailable",
                retryable=True,
            ) from None
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"could not reach GitHub at {urlsplit(url).netloc} (asking for {what}): "
                f"{type(exc).__name__}",
                reason="github_unavailable",
                retryable=True,
            ) from None
        if response.status_code == 204:
            return {}
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success and body is not None:
            return body
        raise _error(response.status_code, body, what)


def _error(status: int, body: Any, what: str) -> ProviderError:
    message = body.get("message") if isinstance(body, dict) else None
    detail = ""
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        detail = "; ".join(
            str(e.get("message") or e.get("code")) for e in body["errors"] if isinstance(e, dict)
        )
    said = "; ".join(part for part in (str(message or ""), detail) if part)[:300]
    said = f": {said}" if said else ""
    if status == 401:
        return ProviderError(
            f"GitHub refused the credential (asking for {what}){said}", reason="github_unauthorized"
        )
    if status in (403, 404):
        return ProviderError(
            f"GitHub answered {status} for {what}{said}: the token cannot see it, or it does "
            "not exist",
            reason="github_not_found" if status == 404 else "github_forbidden",
            retryable=status == 403 and "rate limit" in said.lower(),
        )
    if status == 422:
        return ProviderError(f"GitHub refused {what}{said}", reason="github_invalid")
    return ProviderError(
        f"GitHub answered {status} for {what}{said}",
        reason="github_unavailable",
        retryable=status == 429 or status >= 500 or status == 0,
    )


def _host_key(line: str) -> str:
    kind, key = line.split()[:2]
    if not re.fullmatch(r"[a-z0-9@.-]+", kind) or not re.fullmatch(r"[A-Za-z0-9+/=]+", key):
        raise ValueError(line)
    return f"{kind} {key}"


def _convert(convert: Callable[[Any], T], body: Any, what: str) -> T:
    """GitHub's answer as Corral's type, or a clear error when it is not shaped as GitHub's
    (a proxy's page, another server at the configured URL)."""
    try:
        return convert(body)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise ProviderError(
            f"GitHub's answer for {what} is not what GitHub sends: is [github] api_url right?",
            reason="github_bad_answer",
        ) from None


def _after(seconds: int) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _installation(item: dict[str, Any]) -> Installation:
    account = item.get("account") or {}
    return Installation(
        id=int(item["id"]), account=str(account.get("login", "")), html_url=item.get("html_url")
    )


def _repository(item: dict[str, Any]) -> Repository:
    return Repository(
        id=int(item["id"]),
        full_name=str(item["full_name"]),
        private=bool(item.get("private", True)),
        default_branch=str(item.get("default_branch") or "main"),
        clone_url=str(item["clone_url"]),
        html_url=str(item.get("html_url") or ""),
    )


def _pull(item: dict[str, Any]) -> Pull:
    return Pull(
        number=int(item["number"]),
        html_url=str(item["html_url"]),
        state=str(item.get("state", "open")),
        title=str(item.get("title", "")),
    )


def _app_credentials(body: dict[str, Any]) -> AppCredentials:
    owner = body.get("owner") or {}
    return AppCredentials(
        id=int(body["id"]),
        slug=str(body["slug"]),
        name=str(body.get("name") or body["slug"]),
        client_id=str(body["client_id"]),
        html_url=str(body.get("html_url") or ""),
        owner_login=owner.get("login"),
        client_secret=str(body["client_secret"]),
        webhook_secret=str(body.get("webhook_secret") or ""),
        pem=str(body["pem"]),
    )


def _installation_token(body: dict[str, Any]) -> InstallationToken:
    expires = datetime.fromisoformat(str(body["expires_at"]).replace("Z", "+00:00"))
    return InstallationToken(token=str(body["token"]), expires_at=expires)
