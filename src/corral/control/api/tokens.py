"""Routes for the signed-in user's API tokens."""

from __future__ import annotations

from fastapi import APIRouter

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db, PageParams
from corral.control.schemas.common import Page
from corral.control.schemas.fields import TokenId
from corral.control.schemas.users import ApiTokenCreate, ApiTokenCreated, ApiTokenPublic
from corral.control.services import auth

router = APIRouter(prefix=f"{API_PREFIX}/tokens", tags=["tokens"])


@router.get("")
async def list_tokens(user: CurrentUser, db: Db, page: PageParams) -> Page[ApiTokenPublic]:
    rows, next_cursor = await auth.list_api_tokens(db, user, limit=page.limit, cursor=page.cursor)
    return Page(items=[ApiTokenPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.post("", status_code=201)
async def create_token(body: ApiTokenCreate, user: CurrentUser, db: Db) -> ApiTokenCreated:
    row, secret = await auth.create_api_token(db, user, body.name)
    return ApiTokenCreated.from_row(row, secret)


@router.delete("/{token_id}")
async def revoke_token(token_id: TokenId, user: CurrentUser, db: Db) -> ApiTokenPublic:
    return ApiTokenPublic.model_validate(await auth.revoke_api_token(db, user, token_id))
