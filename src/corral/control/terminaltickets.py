"""Short-lived tickets that open a terminal's WebSocket.

A browser cannot set headers on a WebSocket upgrade, so besides the session cookie a terminal
WebSocket accepts a ticket: single use, valid 60 s, bound to one user, workspace and terminal.
Tickets are rows (only their hash), so a ticket made through one replica opens the socket on
any other; redeeming deletes the row, so it opens one socket only.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from corral.control.db.base import utcnow
from corral.control.db.models import TerminalAccessTicket
from corral.control.services.tokens import hash_token
from corral.errors import Conflict, Unauthenticated

__all__ = ["MAX_TICKETS_PER_USER", "TICKET_TTL_SECONDS", "TerminalTickets", "Ticket"]

TICKET_TTL_SECONDS = 60
MAX_TICKETS_PER_USER = 1_000


@dataclass(frozen=True)
class Ticket:
    user_id: str
    workspace_id: str
    terminal_id: str


class TerminalTickets:
    def __init__(self, ttl_seconds: float = TICKET_TTL_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds

    async def issue(
        self, db: AsyncSession, user_id: str, workspace_id: str, terminal_id: str
    ) -> str:
        now = utcnow()
        await db.execute(delete(TerminalAccessTicket).where(TerminalAccessTicket.expires_at <= now))
        unused = await db.scalar(
            select(func.count()).where(TerminalAccessTicket.user_id == user_id)
        )
        if (unused or 0) >= MAX_TICKETS_PER_USER:
            raise Conflict("too many unused terminal tickets; try again in a minute")
        ticket = secrets.token_urlsafe(32)
        db.add(
            TerminalAccessTicket(
                token_hash=hash_token(ticket),
                user_id=user_id,
                workspace_id=workspace_id,
                terminal_id=terminal_id,
                expires_at=now + timedelta(seconds=self.ttl_seconds),
            )
        )
        await db.commit()
        return ticket

    async def redeem(self, db: AsyncSession, ticket: str, terminal_id: str) -> Ticket:
        """Use up a ticket for this terminal; the caller checks its workspace."""
        digest = hash_token(ticket)
        found = await db.get(TerminalAccessTicket, digest)
        held = (
            None
            if found is None
            else (Ticket(found.user_id, found.workspace_id, found.terminal_id), found.expires_at)
        )
        # Used up by whoever deletes the row: of two sockets racing with one ticket, one opens.
        deleted = await db.execute(
            delete(TerminalAccessTicket).where(TerminalAccessTicket.token_hash == digest)
        )
        await db.commit()
        if held is None or deleted.rowcount != 1 or held[1] <= utcnow():  # type: ignore[attr-defined]
            raise Unauthenticated(
                "the terminal ticket is not valid or has expired", reason="ticket_invalid"
            )
        redeemed, _ = held
        if redeemed.terminal_id != terminal_id:
            raise Unauthenticated(
                "the terminal ticket is for another terminal", reason="ticket_invalid"
            )
        return redeemed
