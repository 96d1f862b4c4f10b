"""The browser's round trips through GitHub: "Sign in with GitHub" (and connecting GitHub to a
signed-in account), and coming back from GitHub with the App it made from Corral's manifest.

Each trip carries a sealed `state` (`corral.control.github.flowstate`). Sign-in also binds it
to the browser that started it: a random nonce is in the state and in a short-lived cookie, and
the callback refuses a state whose nonce the browser does not hold, so no other site can sign a
browser into someone else's account (login CSRF). Failures are pages with a message, never a
traceback, and never hold a code or a token.
"""

from __future__ import annotations

import html
import logging
import secrets
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from corral.control.api.auth import client_address
from corral.control.api.deps import Db, State, authenticate
from corral.control.api.errors import status_of
from corral.control.db.models import User, UserRole
from corral.control.github.client import GitHubClient
from corral.control.github.flowstate import open_state, seal_state
from corral.control.github.manifest import APP_CREATED_PATH, CALLBACK_PATH
from corral.control.services import githubapp, githubsignin
from corral.control.web import page, secure_cookies, signed_in
from corral.errors import (
    Conflict,
    CorralError,
    PermissionDenied,
    Unauthenticated,
)

__all__ = ["AVAILABLE_PATH", "LOGIN_PATH", "router"]

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

LOGIN_PATH = "/auth/github/login"
AVAILABLE_PATH = "/auth/github/available"
NONCE_COOKIE = "corral_github_state"
SIGNIN_TTL_SECONDS = 600
SETTINGS_PAGE = "/settings"
_MAX_NEXT_CHARS = 500


def _failed(exc: CorralError) -> Response:
    back = '<p><a href="/">Back to Corral</a></p>'
    response = page(f"<p>{html.escape(exc.message)}</p>{back}", status=status_of(exc))
    response.delete_cookie(NONCE_COOKIE, path="/auth/github")
    return response


def _local_path(value: str) -> str:
    """`value` if it is a path on this site, else `/`: the sign-in is no open redirect."""
    if (
        not value.startswith("/")
        or value.startswith(("//", "/\\"))
        or len(value) > _MAX_NEXT_CHARS
        or any(ord(c) < 0x20 for c in value)
    ):
        return "/"
    return value


async def _browser_user(request: Request, db: Db) -> User | None:
    """Who is signed in with this browser's session cookie (not an API token), if anyone."""
    try:
        principal = await authenticate(request, db)
    except CorralError:
        return None
    return principal.user if principal is not None and principal.web_session else None


@router.get(AVAILABLE_PATH)
async def github_available(db: Db, state: State) -> JSONResponse:
    """Whether to offer "Sign in with GitHub" (the signed-out web app asks)."""
    try:
        await githubapp.oauth_client(db, state.secret_box, state.settings.github)
    except CorralError:
        return JSONResponse({"available": False})
    return JSONResponse({"available": True})


@router.get(LOGIN_PATH)
async def github_login(
    request: Request,
    db: Db,
    state: State,
    next_path: Annotated[str, Query(alias="next", max_length=_MAX_NEXT_CHARS)] = "/",
    link: bool = False,
) -> Response:
    """Off to GitHub to sign in; with a signed-in browser, to connect GitHub to that account."""
    try:
        client = await githubapp.oauth_client(db, state.secret_box, state.settings.github)
    except CorralError as exc:
        return _failed(exc)
    user = await _browser_user(request, db)
    if link and user is None:
        return _failed(Unauthenticated("sign in to Corral first, then connect GitHub"))
    token, flow = seal_state(
        state.secret_box,
        "signin",
        user_id=user.id if user is not None else None,
        ttl_seconds=SIGNIN_TTL_SECONDS,
        next_path=SETTINGS_PAGE + "#github" if user is not None else _local_path(next_path),
    )
    async with GitHubClient(state.settings.github) as github:
        url = github.authorize_url(
            client_id=client.client_id,
            redirect_uri=state.settings.effective_public_url + CALLBACK_PATH,
            state=token,
        )
    response = RedirectResponse(url, status_code=302)
    response.set_cookie(
        NONCE_COOKIE,
        flow.nonce,
        max_age=SIGNIN_TTL_SECONDS,
        path="/auth/github",
        httponly=True,
        samesite="lax",
        secure=secure_cookies(request, state),
    )
    return response


@router.get(CALLBACK_PATH)
async def github_callback(
    request: Request,
    db: Db,
    state: State,
    code: Annotated[str, Query(max_length=200)] = "",
    sealed: Annotated[str, Query(alias="state", max_length=2000)] = "",
    error: Annotated[str, Query(max_length=200)] = "",
) -> Response:
    """Where GitHub sends the browser back: sign in (or connect GitHub), or say why not."""
    if error:
        return _failed(Unauthenticated("GitHub sign-in was cancelled", reason="github_cancelled"))
    client_ip = client_address(request)
    try:
        await state.login_limiter.check(db, client_ip)
        try:
            flow = open_state(state.secret_box, "signin", sealed)
            held = request.cookies.get(NONCE_COOKIE, "")
            if not secrets.compare_digest(held.encode(), flow.nonce.encode()):
                raise Unauthenticated(
                    "this GitHub sign-in was not started in this browser: start again from Corral",
                    reason="github_state_invalid",
                )
            if not code:
                raise Unauthenticated("GitHub sent no sign-in code", reason="github_state_invalid")
            response = await _finish_sign_in(request, db, state, code, flow.user_id, flow.next_path)
        except (Unauthenticated, PermissionDenied):
            await state.login_limiter.fail(db, client_ip)
            raise
    except CorralError as exc:
        log.info("GitHub sign-in refused: %s", exc.reason)
        return _failed(exc)
    response.delete_cookie(NONCE_COOKIE, path="/auth/github")
    return response


async def _finish_sign_in(
    request: Request, db: Db, state: State, code: str, link_to: str | None, to: str
) -> Response:
    settings = state.settings.github
    client = await githubapp.oauth_client(db, state.secret_box, settings)
    async with GitHubClient(settings) as github:
        token = await github.exchange_code(
            client_id=client.client_id,
            client_secret=client.client_secret,
            code=code,
            redirect_uri=state.settings.effective_public_url + CALLBACK_PATH,
        )
        who = await github.user(token.access_token)
        if link_to is not None:
            user = await _browser_user(request, db)
            if user is None or user.id != link_to:
                raise PermissionDenied(
                    "sign in to Corral as the account you are connecting GitHub to, then "
                    "connect again",
                    reason="github_link_refused",
                )
            await githubsignin.link(db, state.secret_box, user, who, token)
            return RedirectResponse(to, status_code=303)

        async def organizations() -> list[str]:
            return await github.user_organizations(token.access_token)

        user = await githubsignin.sign_in(
            db,
            state.secret_box,
            who,
            token,
            allowed_organizations=settings.allowed_organizations,
            organizations=organizations,
        )
    return await signed_in(request, db, state, user, to)


@router.get(APP_CREATED_PATH)
async def app_created(
    request: Request,
    db: Db,
    state: State,
    code: Annotated[str, Query(max_length=200)] = "",
    sealed: Annotated[str, Query(alias="state", max_length=2000)] = "",
) -> Response:
    """Where GitHub sends the owner back with the App it made from Corral's manifest."""
    try:
        user = await _browser_user(request, db)
        if user is None or user.role != UserRole.OWNER:
            raise Unauthenticated("sign in to Corral as its owner, then make the App again")
        flow = open_state(state.secret_box, "manifest", sealed)
        if flow.user_id != user.id or not code:
            raise Unauthenticated(
                "this GitHub App was not started from this Corral account: make it again from "
                "Settings",
                reason="github_state_invalid",
            )
        if await githubapp.get_app(db) is not None:  # this state was used already
            raise Conflict("this Corral has its GitHub App already", reason="github_app_exists")
        async with GitHubClient(state.settings.github) as github:
            made = await github.convert_manifest(code)
        await githubapp.save_app(db, state.secret_box, made, actor_id=user.id)
    except CorralError as exc:
        log.info("GitHub App not made: %s", exc.reason)
        return _failed(exc)
    return RedirectResponse(f"{SETTINGS_PAGE}?github=created#github", status_code=303)
