"""Short-lived tickets that open a terminal's WebSocket.

A browser cannot set headers on a WebSocket upgrade, so besides the session cookie a terminal
WebSocket accepts a ticket: single use, valid 60 s, bound to one user, workspace and terminal.
Tickets live in memory, as the terminal relay itself does (one control plane process).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

from corral.errors import Conflict, Unauthenticated

__all__ = ["TICKET_TTL_SECONDS", "TerminalTickets", "Ticket"]

TICKET_TTL_SECONDS = 60
MAX_TICKETS = 10_000


@dataclass(frozen=True)
class Ticket:
    user_id: str
    workspace_id: str
    terminal_id: str
    expires_at: float


class TerminalTickets:
    def __init__(self, ttl_seconds: float = TICKET_TTL_SECONDS) -> None:
        self.ttl_seconds = ttl_seconds
        self._tickets: dict[str, Ticket] = {}

    def issue(self, user_id: str, workspace_id: str, terminal_id: str) -> str:
        now = time.monotonic()
        self._tickets = {k: t for k, t in self._tickets.items() if t.expires_at > now}
        if len(self._tickets) >= MAX_TICKETS:
            raise Conflict("too many unused terminal tickets; try again in a minute")
        ticket = secrets.token_urlsafe(32)
        self._tickets[ticket] = Ticket(user_id, workspace_id, terminal_id, now + self.ttl_seconds)
        return ticket

    def redeem(self, ticket: str, terminal_id: str) -> Ticket:
        """Use up a ticket for this terminal; the caller checks its workspace."""
        found = self._tickets.pop(ticket, None)
        if found is None or found.expires_at <= time.monotonic():
            raise Unauthenticated(
                "the terminal ticket is not valid or has expired", reason="ticket_invalid"
            )
        if found.terminal_id != terminal_id:
            raise Unauthenticated(
                "the terminal ticket is for another terminal", reason="ticket_invalid"
            )
        return found
