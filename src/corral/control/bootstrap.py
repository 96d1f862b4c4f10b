"""What the control plane does before it serves: migrate the database and make the owner."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from corral.control.db.engine import redacted_url, reporting_database_errors
from corral.control.db.migrate import startup_lock, upgrade
from corral.control.db.models import User
from corral.control.services import auth
from corral.control.state import AppState

__all__ = ["Prepared", "prepare"]

log = logging.getLogger("corral.control")


@dataclass(frozen=True)
class Prepared:
    owner: User
    owner_created: bool


async def prepare(state: AppState) -> Prepared:
    url = state.settings.effective_database_url
    log.info("applying database migrations", extra={"database": redacted_url(url)})
    with reporting_database_errors(url):
        async with startup_lock(state.engine):
            await upgrade(state.engine)
            async with state.db() as db:
                owner, created = await auth.ensure_owner(db, state.settings.auth.owner_name)
    if created:
        log.info("created the owner account", extra={"user": owner.name})
    return Prepared(owner=owner, owner_created=created)
