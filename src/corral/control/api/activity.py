"""Routes for the activity feed."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import CurrentUser, Db, PageParams
from corral.control.schemas.activity import ActivityPublic
from corral.control.schemas.common import Page
from corral.control.services import activity

router = APIRouter(prefix=f"{API_PREFIX}/activity", tags=["activity"])


@router.get("")
async def list_activity(
    user: CurrentUser,
    db: Db,
    page: PageParams,
    object_type: Annotated[str | None, Query(max_length=32)] = None,
    object_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Page[ActivityPublic]:
    """What happened to your objects, newest first."""
    rows, next_cursor = await activity.list_activity(
        db,
        user.id,
        limit=page.limit,
        cursor=page.cursor,
        object_type=object_type,
        object_id=object_id,
    )
    return Page(items=[ActivityPublic.model_validate(r) for r in rows], next_cursor=next_cursor)
