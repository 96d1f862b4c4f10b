"""Request dependencies: the app's state, a database session, and who is asking.

A request authenticates with `Authorization: Bearer <API token>` or with the browser's session
cookie. Cookie requests that change something must also send the session's CSRF token in the
`X-CSRF-Token` header (the `corral_csrf` cookie holds it for the web app to read), which a page on
another site cannot do.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Query, Request, WebSocket
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import HTTPConnection

from corral.control.api.closecodes import CLOSE_UNAUTHORIZED
from corral.control.api.errors import close_reason
from corral.control.db.models import ApiToken, User, WebSession
from corral.control.live import Viewer
from corral.control.services import auth
from corral.control.state import AppState
from corral.errors import PermissionDenied, Unauthenticated

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "CurrentPrincipal",
    "CurrentUser",
    "Db",
    "PageParams",
    "Principal",
    "State",
    "websocket_user",
    "while_allowed",
]

log = logging.getLogger("corral.api")
RECHECK_RETRY_SECONDS = 2.0

SESSION_COOKIE = "corral_session"
CSRF_COOKIE = "corral_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# Dependencies are `async def` even when they do not await: FastAPI runs a plain `def` on its
# thread pool, a trip to another thread per request that a loaded control plane makes slow.


async def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.corral
    return state


State = Annotated[AppState, Depends(get_state)]


async def get_db(state: State) -> AsyncIterator[AsyncSession]:
    async with state.db() as session:
        yield session


Db = Annotated[AsyncSession, Depends(get_db)]


@dataclass(frozen=True)
class Principal:
    user: User
    api_token: ApiToken | None = None
    web_session: WebSession | None = None


async def authenticate(request: HTTPConnection, db: AsyncSession) -> Principal | None:
    """Who the request comes from, or None when it carries no credentials at all."""
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("the Authorization header must be 'Bearer <API token>'")
        user, api_token = await auth.authenticate_api_token(db, token.strip())
        return Principal(user=user, api_token=api_token)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie is None:
        return None
    user, web_session = await auth.authenticate_web_session(db, cookie)
    # A WebSocket has no method; its cross-site use is checked by origin where it is served.
    if isinstance(request, Request) and request.method not in SAFE_METHODS:
        sent = request.headers.get(CSRF_HEADER, "")
        if not secrets.compare_digest(sent.encode(), web_session.csrf_token.encode()):
            raise PermissionDenied(
                f"missing or wrong {CSRF_HEADER} header for a signed-in browser request",
                reason="csrf_failed",
            )
    return Principal(user=user, web_session=web_session)


async def websocket_user(websocket: WebSocket, state: AppState, what: str) -> str:
    """The user a WebSocket acts for, from its bearer token or session cookie.

    A WebSocket is not bound by CORS: a page on another site must not ride on the cookie, so a
    browser's Origin must be this site.
    """
    origin = websocket.headers.get("origin")
    http_scheme = "https" if websocket.url.scheme == "wss" else "http"
    if origin is not None and origin != f"{http_scheme}://{websocket.url.netloc}":
        raise PermissionDenied(f"{what} cannot be opened from another site")
    async with state.db() as db:
        principal = await authenticate(websocket, db)
    if principal is None:
        raise Unauthenticated("sign in first")
    return principal.user.id


async def while_allowed(
    websocket: WebSocket, state: AppState, user_id: str, serve: Callable[[], Awaitable[None]]
) -> None:
    """Serve a viewer's WebSocket for `user_id` until `serve` ends, or until the user loses
    access (their account is disabled): then `serve` is cancelled and the socket closed with
    4401 and the reason. `serve`'s own errors are raised here, for the caller to close with."""
    with state.viewer_sockets.track(user_id) as viewer:
        # Checked again now that the socket is tracked: an account disabled since the socket
        # was authenticated is refused here, and one disabled from now on cuts it off.
        async with state.db() as db:
            await auth.active_user(db, user_id)
        served = asyncio.ensure_future(serve())
        cut_off = asyncio.ensure_future(viewer.wait_cut_off())
        recheck = asyncio.ensure_future(_recheck_when_told(state, viewer, user_id))
        try:
            await asyncio.wait({served, cut_off}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (served, cut_off, recheck):
                task.cancel()
            await asyncio.gather(served, cut_off, recheck, return_exceptions=True)
        if viewer.cut_off_reason is None:
            served.result()  # what it raised, if anything
            return
        with contextlib.suppress(RuntimeError):  # `serve` closed it already
            await websocket.close(CLOSE_UNAUTHORIZED, close_reason(viewer.cut_off_reason))


async def _recheck_when_told(state: AppState, viewer: Viewer, user_id: str) -> None:
    """Check the user again each time the broker may have lost a cut-off (`Viewer.recheck`)."""
    while True:
        await viewer.recheck.wait()
        viewer.recheck.clear()
        try:
            async with state.db() as db:
                await auth.active_user(db, user_id)
        except Unauthenticated as exc:
            viewer.cut_off(exc.message)
            return
        except Exception:
            log.exception("could not check a viewer's account again; trying again")
            await asyncio.sleep(RECHECK_RETRY_SECONDS)
            viewer.recheck.set()


async def current_principal(request: Request, db: Db) -> Principal:
    principal = await authenticate(request, db)
    if principal is None:
        raise Unauthenticated(
            "sign in first: open a login link, or send 'Authorization: Bearer <API token>'"
        )
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


async def current_user(principal: CurrentPrincipal) -> User:
    return principal.user


CurrentUser = Annotated[User, Depends(current_user)]


@dataclass(frozen=True)
class PageQuery:
    limit: int
    cursor: str | None


async def page_params(
    state: State,
    limit: Annotated[int | None, Query(ge=1, description="Items per page.")] = None,
    cursor: Annotated[str | None, Query(max_length=200, description="From `next_cursor`.")] = None,
) -> PageQuery:
    api = state.settings.api
    return PageQuery(limit=min(limit or api.default_page_size, api.max_page_size), cursor=cursor)


PageParams = Annotated[PageQuery, Depends(page_params)]
