"""Routes for the signed-in user's credentials; values go in and never come out."""

from __future__ import annotations

from fastapi import APIRouter, Response

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db, PageParams, State
from corral.control.schemas.common import Page
from corral.control.schemas.credentials import CredentialPublic, CredentialSet
from corral.control.schemas.fields import CredentialName
from corral.control.services import credentials

router = APIRouter(prefix=f"{API_PREFIX}/credentials", tags=["credentials"])


@router.get("")
async def list_credentials(user: CurrentUser, db: Db, page: PageParams) -> Page[CredentialPublic]:
    rows, next_cursor = await credentials.list_credentials(
        db, user.id, limit=page.limit, cursor=page.cursor
    )
    return Page(items=[CredentialPublic.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.put(
    "/{name}",
    response_description="Replaced",
    responses={201: {"model": CredentialPublic, "description": "Created"}},
)
async def set_credential(
    name: CredentialName,
    body: CredentialSet,
    user: CurrentUser,
    db: Db,
    state: State,
    response: Response,
) -> CredentialPublic:
    """Store the credential `name`, replacing its value if it exists (201 when new)."""
    row, created = await credentials.set_credential(
        db,
        state.secret_box,
        user.id,
        name=name,
        kind=body.kind,
        value=body.value.get_secret_value(),
    )
    response.status_code = 201 if created else 200
    return CredentialPublic.model_validate(row)


@router.get("/{name}")
async def get_credential(name: CredentialName, user: CurrentUser, db: Db) -> CredentialPublic:
    return CredentialPublic.model_validate(await credentials.get_credential(db, user.id, name))


@router.delete("/{name}", status_code=204)
async def delete_credential(name: CredentialName, user: CurrentUser, db: Db) -> None:
    await credentials.delete_credential(db, user.id, name)
