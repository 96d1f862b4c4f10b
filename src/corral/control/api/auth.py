"""Routes for signing in from the CLI, signing out, and asking who you are."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CSRF_COOKIE, SESSION_COOKIE, CurrentPrincipal, Db, State
from corral.control.schemas.users import (
    ApiTokenCreated,
    LoginExchange,
    LoginExchanged,
    UserPublic,
)
from corral.control.services import auth
from corral.errors import Unauthenticated

router = APIRouter(prefix=API_PREFIX, tags=["auth"])


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/auth/exchange", status_code=201)
async def exchange_login_link(
    body: LoginExchange, request: Request, db: Db, state: State
) -> LoginExchanged:
    """Trade a login link's token for a new API token (what `corral login URL` does)."""
    client = client_address(request)
    await state.login_limiter.check(db, client)
    try:
        user = await auth.redeem_login_link(db, body.token)
    except Unauthenticated:
        await state.login_limiter.fail(db, client)
        raise
    row, secret = await auth.create_api_token(db, user, body.token_name)
    return LoginExchanged(
        user=UserPublic.model_validate(user), token=ApiTokenCreated.from_row(row, secret)
    )


@router.post("/auth/logout", status_code=204)
async def logout(principal: CurrentPrincipal, db: Db, response: Response) -> None:
    """End this browser session, or revoke the API token this request came with."""
    if principal.web_session is not None:
        await auth.end_web_session(db, principal.web_session)
        response.delete_cookie(SESSION_COOKIE, path="/")
        response.delete_cookie(CSRF_COOKIE, path="/")
    elif principal.api_token is not None:
        await auth.revoke_api_token(db, principal.user, principal.api_token.id)


@router.get("/me")
async def who_am_i(principal: CurrentPrincipal) -> UserPublic:
    return UserPublic.model_validate(principal.user)
