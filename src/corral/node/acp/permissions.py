"""An agent's permission requests in one session: the session's policy answers what it may, a
user answers the rest, and a request nobody answers in time is rejected (`reject_once`).

Every request and every decision becomes a session event, with who decided (`by`, a user) or
which rule did (`policy`: the session's policy, `timeout`, `cancelled`, `no turn is running`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from corral.errors import CorralError
from corral.ids import new_id
from corral.node.acp.requests import RequestPermissionRequest
from corral.node.acp.rpc import validated
from corral.protocol.sessions import SessionEventKind, SessionStart, option_of_kind, policy_answer

__all__ = ["Emit", "PermissionRequests"]

Emit = Callable[[SessionEventKind, dict[str, Any]], None]


def _cancelled() -> dict[str, Any]:
    return {"outcome": {"outcome": "cancelled"}}


def _selected(option_id: str) -> dict[str, Any]:
    return {"outcome": {"outcome": "selected", "optionId": option_id}}


class PermissionRequests:
    """`waiting` is told True when a request starts waiting for a user, and False when none
    waits any more."""

    def __init__(self, start: SessionStart, *, emit: Emit, waiting: Callable[[bool], None]) -> None:
        self._start = start
        self._emit = emit
        self._waiting = waiting
        self._pending: dict[str, asyncio.Future[str | None]] = {}
        self._tool_kinds: dict[str, str] = {}

    def note_tool_call(self, update: dict[str, Any]) -> None:
        """A `tool_call` or `tool_call_update`: its kind, for the policy, since a permission
        request for the call may leave it out."""
        if update.get("kind"):
            self._tool_kinds[str(update.get("toolCallId"))] = str(update["kind"])

    async def request(self, params: dict[str, Any], *, turn_running: bool) -> dict[str, Any]:
        """Answer the agent's `session/request_permission`: at once from the policy, or when a
        user answers (`answer`), the turn is cancelled (`cancel`) or the time is up."""
        validated(RequestPermissionRequest, params, "permission request")
        tool_call: dict[str, Any] = params["toolCall"]
        options: list[dict[str, Any]] = params["options"]
        valid = {str(o.get("optionId")) for o in options}
        request_id = new_id("prm")
        self._emit(
            SessionEventKind.PERMISSION_REQUEST,
            {"request_id": request_id, "tool_call": tool_call, "options": options},
        )
        if not turn_running:
            self._decide(request_id, None, by=None, policy="no turn is running")
            return _cancelled()
        kind = tool_call.get("kind") or self._tool_kinds.get(str(tool_call.get("toolCallId")))
        choice = policy_answer(self._start.policy, kind, options)
        if choice is not None:
            self._decide(request_id, choice, by=None, policy=self._start.policy.value)
            return _selected(choice)
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        self._waiting(True)
        try:
            async with asyncio.timeout(self._start.permission_timeout_seconds):
                answer = await future
        except TimeoutError:
            answer = option_of_kind(options, "reject_once")
            self._decide(request_id, answer, by=None, policy="timeout")
        finally:
            self._pending.pop(request_id, None)
            if not self._pending:
                self._waiting(False)
        if answer is None or answer not in valid:
            return _cancelled()
        return _selected(answer)

    def answer(self, request_id: str, option_id: str | None, by: str | None) -> None:
        """A user's answer: one of the request's options, or None to cancel it."""
        future = self._pending.get(request_id)
        if future is None or future.done():
            raise CorralError(
                f"permission request {request_id} is not waiting", reason="not_pending"
            )
        self._decide(request_id, option_id, by=by, policy=None)
        future.set_result(option_id)

    def cancel(self) -> None:
        """The turn is cancelled: every waiting request is answered `cancelled`."""
        for request_id, future in list(self._pending.items()):
            if not future.done():
                self._decide(request_id, None, by=None, policy="cancelled")
                future.set_result(None)

    def close(self) -> None:
        """The session ends: every waiting request is answered `cancelled`, with no decision."""
        for future in self._pending.values():
            if not future.done():
                future.set_result(None)

    def pending(self) -> list[str]:
        return [rid for rid, future in self._pending.items() if not future.done()]

    def _decide(
        self, request_id: str, option_id: str | None, *, by: str | None, policy: str | None
    ) -> None:
        self._emit(
            SessionEventKind.PERMISSION_DECISION,
            {
                "request_id": request_id,
                "outcome": "selected" if option_id else "cancelled",
                "option_id": option_id,
                "by": by,
                "policy": policy,
            },
        )
