"""The browser-facing pages: signing in with a login link, and the web app.

The web app (`web/`, built into `static/`) is served at `/` and at every path of its own
(`/sessions/ses_…`), so a reload or a shared link opens the right page; it reads everything else
from the API. Without a build (no Node.js where Corral was installed), `/` says who is signed
in and how to get the web app. A login link opens a page that submits the token by POST, so a
chat app or mail scanner that prefetches the link cannot use it up.
"""

from __future__ import annotations

import contextlib
import html
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from corral import __version__
from corral.control.api.auth import client_address
from corral.control.api.deps import CSRF_COOKIE, SESSION_COOKIE, Db, State, authenticate
from corral.control.db.models import User
from corral.control.services import auth, githubapp
from corral.control.state import AppState
from corral.control.urls import LOGIN_PATH
from corral.errors import CorralError, NotFound, RateLimited, Unauthenticated

router = APIRouter(include_in_schema=False)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>Corral</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1rem}}
button{{font-size:1rem;padding:.5rem 1rem}}</style></head>
<body><h1>Corral</h1>{body}</body></html>"""


def page(body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(body=body), status_code=status)


STATIC_DIR = Path(__file__).parent / "static"
INDEX = STATIC_DIR / "index.html"
# Paths that are never the web app's, so their 404s stay the API's JSON ones.
_NOT_APP_PREFIXES = ("api/", "auth/", "assets/", "healthz", "readyz", "metrics")
# The app loads only its own scripts and styles; it talks to this origin (and its WebSockets).
_APP_HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@router.get("/")
async def home(request: Request, db: Db, state: State) -> Response:
    if INDEX.is_file():
        return FileResponse(INDEX, headers=_APP_HEADERS)
    try:
        principal = await authenticate(request, db)
    except CorralError:
        principal = None
    if principal is None:
        github = ""
        with contextlib.suppress(CorralError):
            await githubapp.oauth_client(db, state.secret_box, state.settings.github)
            github = '<p><a href="/auth/github/login">Sign in with GitHub</a></p>'
        return page(
            "<p>You are not signed in. Open the login link that <code>corral up</code> "
            f"printed, or make a new one with <code>corral auth link</code>.</p>{github}"
        )
    name = html.escape(principal.user.name)
    return page(
        f"<p>Signed in as <strong>{name}</strong>. Corral {__version__}.</p>"
        "<p>The web app is not built here: it needs Node.js when Corral is installed "
        "(<code>make up</code> builds it).</p>"
    )


@router.get(LOGIN_PATH)
async def login_page(token: Annotated[str, Query(max_length=200)] = "") -> Response:
    value = html.escape(token, quote=True)
    return page(
        f'<form method="post" action="{LOGIN_PATH}" id="login">'
        f'<input type="hidden" name="token" value="{value}">'
        '<p><button type="submit">Sign in to Corral</button></p></form>'
        "<script>document.getElementById('login').submit()</script>"
    )


def _same_origin(request: Request) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None  # old browsers and scripts send no Origin; "null" is a sandbox
    return origin == f"{request.url.scheme}://{request.url.netloc}"


@router.post(LOGIN_PATH)
async def login(
    request: Request, db: Db, state: State, token: Annotated[str, Form(max_length=200)] = ""
) -> Response:
    if not _same_origin(request):
        # Another site posting its own link would sign this browser into the wrong account.
        return page("<p>Sign-in must come from Corral's own page.</p>", status=403)
    client = client_address(request)
    try:
        await state.login_limiter.check(db, client)
        try:
            user = await auth.redeem_login_link(db, token)
        except Unauthenticated:
            await state.login_limiter.fail(db, client)
            raise
    except (Unauthenticated, RateLimited) as exc:
        status = 429 if isinstance(exc, RateLimited) else 401
        return page(f"<p>{html.escape(exc.message)}</p>", status=status)
    return await signed_in(request, db, state, user, "/")


async def signed_in(
    request: Request, db: AsyncSession, state: AppState, user: User, to: str
) -> Response:
    """A new browser session for `user` (its two cookies), on the way to `to` on this site."""
    ttl = state.settings.auth.session_ttl_seconds
    session = await auth.create_web_session(db, user, ttl_seconds=ttl)
    response = RedirectResponse(to, status_code=303)
    secure = secure_cookies(request, state)
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=ttl,
        path="/",
        httponly=True,
        samesite="lax",
        secure=secure,
    )
    # Readable by the web app, which echoes it in the X-CSRF-Token header.
    response.set_cookie(
        CSRF_COOKIE,
        session.csrf_token,
        max_age=ttl,
        path="/",
        httponly=False,
        samesite="lax",
        secure=secure,
    )
    return response


def secure_cookies(request: Request, state: AppState) -> bool:
    return request.url.scheme == "https" or state.settings.effective_public_url.startswith(
        "https://"
    )


# Last: it matches every path the routes above do not.
@router.get("/{path:path}")
async def app_page(path: str) -> Response:
    """The web app's own pages (`/sessions/…`, `/projects`): the app routes them itself."""
    if path.startswith(_NOT_APP_PREFIXES) or not INDEX.is_file():
        raise NotFound(f"no page at /{path[:200]}")
    return FileResponse(INDEX, headers=_APP_HEADERS)
