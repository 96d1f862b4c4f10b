"""GitHub's webhooks: signed deliveries about the pull requests chats opened.

No user signs these in: the App's webhook secret does (HMAC-SHA256 over the body, checked
before the body is parsed). A delivery about something Corral did not open is accepted and
ignored, as GitHub expects a 2xx for every delivery it should not retry."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from corral.control.api.constants import API_PREFIX
from corral.control.api.deps import Db, State
from corral.control.services import pullrequests
from corral.errors import InvalidInput

router = APIRouter(prefix=f"{API_PREFIX}/github", tags=["github"])


@router.post("/webhooks", status_code=204)
async def github_webhook(
    request: Request,
    db: Db,
    state: State,
    x_github_event: Annotated[str, Header(max_length=100)],
    x_hub_signature_256: Annotated[str, Header(max_length=100)] = "",
) -> Response:
    """Take one delivery from GitHub (pull_request, check_run; others are ignored)."""
    body = await request.body()
    await pullrequests.check_signature(db, state.secret_box, body, x_hub_signature_256)
    try:
        payload = json.loads(body)
    except ValueError:
        raise InvalidInput("the delivery's body is not JSON", reason="invalid_json") from None
    if not isinstance(payload, dict):
        raise InvalidInput("the delivery's body is not a JSON object", reason="invalid_json")
    await pullrequests.apply_webhook(db, x_github_event, payload)
    return Response(status_code=204)
