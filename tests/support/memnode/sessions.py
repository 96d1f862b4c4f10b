"""The in-memory node's agent sessions: the `session.*` requests, answered as a node's session
host answers them, and what the agent does on its own, when the test says so."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corral.control.db.models import Node
from corral.control.state import AppState
from corral.errors import Conflict, NotFound
from corral.ids import new_id
from corral.protocol.messages import Empty
from corral.protocol.peer import Handler
from corral.protocol.sessions import (
    PermissionAnswer,
    SessionAck,
    SessionEventKind,
    SessionList,
    SessionPrompt,
    SessionRef,
    SessionSetMode,
    SessionSetModel,
    SessionStart,
    SessionSummary,
)
from corral.states import SessionState
from tests.support.memnode.core import NodeCore

__all__ = ["MemorySession", "SessionsPart"]

_ENDED = (SessionState.STOPPED, SessionState.ERROR)
_K = SessionEventKind


@dataclass
class MemorySession:
    """A session as the node runs it."""

    start: SessionStart
    state: SessionState = SessionState.STARTING
    mode: str | None = None
    model: str | None = None
    turn: SessionPrompt | None = None
    queue: list[SessionPrompt] = field(default_factory=list)
    pending: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Permission requests waiting for an answer: their options, by request id."""
    answers: list[PermissionAnswer] = field(default_factory=list)

    @property
    def ended(self) -> bool:
        return self.state in _ENDED


class SessionsPart(NodeCore):
    def __init__(self, state: AppState, node: Node) -> None:
        super().__init__(state, node)
        self.sessions: dict[str, MemorySession] = {}

    def _session_handlers(self) -> dict[str, Handler]:
        return {
            "session.start": self._session_start,
            "session.prompt": self._session_prompt,
            "session.cancel": self._session_cancel,
            "session.stop": self._session_stop,
            "session.set_mode": self._session_set_mode,
            "session.set_model": self._session_set_model,
            "session.permission": self._session_permission,
            "session.list": self._session_list,
        }

    # -- what the agent does (the test says when) ---------------------------------------------

    def session(self, session_id: str) -> MemorySession:
        """The session as the node runs it."""
        return self.sessions[session_id]

    def _state(self, session: MemorySession, state: SessionState, **details: Any) -> None:
        session.state = state
        payload: dict[str, Any] = {"state": state.value, **details}
        payload["acp_session_id"] = _acp_id(session.start)
        self.append(session.start.session_id, _K.STATE, payload)

    async def reply(self, session_id: str, *chunks: str) -> None:
        """The agent's reply to the running turn, in chunks, stored when this returns."""
        for chunk in chunks:
            self.append(
                session_id,
                _K.UPDATE,
                {
                    "sessionUpdate": "agent_message_chunk",
                    "content": {"type": "text", "text": chunk},
                },
            )
        await self.flush()

    async def finish_turn(
        self,
        session_id: str,
        *,
        reply: str | None = None,
        stop_reason: str = "end_turn",
        usage: dict[str, Any] | None = None,
    ) -> None:
        """The running turn ends (after `reply`, if given); the next queued prompt starts."""
        session = self.sessions[session_id]
        assert session.turn is not None, f"session {session_id} runs no turn"
        if reply is not None:
            await self.reply(session_id, reply)
        end: dict[str, Any] = {"prompt_id": session.turn.prompt_id, "stop_reason": stop_reason}
        if usage is not None:
            end["usage"] = usage
        self.append(session_id, _K.TURN_END, end)
        session.turn = None
        self._state(session, SessionState.IDLE)
        if session.queue:
            self._begin_turn(session, session.queue.pop(0))
        await self.flush()

    async def ask_permission(
        self,
        session_id: str,
        tool_call: dict[str, Any] | None = None,
        options: list[dict[str, Any]] | None = None,
    ) -> str:
        """The agent asks during the running turn; the request waits for an answer. Returns its
        id, once the control plane has stored it."""
        session = self.sessions[session_id]
        request_id = new_id("prm")
        options = options or [
            {"optionId": "allow", "name": "Allow", "kind": "allow_once"},
            {"optionId": "reject", "name": "Reject", "kind": "reject_once"},
        ]
        tool_call = tool_call or {"toolCallId": "call-1", "title": "Edit a.txt", "kind": "edit"}
        session.pending[request_id] = options
        self.append(
            session_id,
            _K.PERMISSION_REQUEST,
            {"request_id": request_id, "tool_call": tool_call, "options": options},
        )
        self._state(session, SessionState.AWAITING_PERMISSION)
        await self.flush()
        return request_id

    async def crash(self, session_id: str, reason: str, stderr: list[str] | None = None) -> None:
        """The agent process dies: the session ends in error with its stderr."""
        session = self.sessions[session_id]
        session.pending.clear()
        self._state(session, SessionState.ERROR, reason=reason, stderr=stderr or [])
        await self.flush()

    def restart(self) -> None:
        """The node daemon restarts (while unlinked): its sessions end with it, the
        agents being its children, without a word; its outbox is kept, as on disk."""
        assert not self.linked, "unlink first: a restarting process drops its link"
        self.sessions.clear()

    # -- requests from the control plane --------------------------------------------------------

    def _running(self, session_id: str) -> MemorySession:
        session = self.sessions.get(session_id)
        if session is None or session.ended:
            raise NotFound(f"session {session_id} is not running on this node", reason="no_session")
        return session

    async def _session_start(self, start: SessionStart) -> SessionAck:
        existing = self.sessions.get(start.session_id)
        if existing is not None and not existing.ended:
            return SessionAck(session_id=start.session_id)  # a repeated request
        self._workspace(start.workspace_id)
        session = MemorySession(start=start, mode=start.mode, model=start.model)
        self.sessions[start.session_id] = session
        self._next_seq[start.session_id] = start.next_seq
        self._state(session, SessionState.IDLE)
        return SessionAck(session_id=start.session_id)

    def _begin_turn(self, session: MemorySession, prompt: SessionPrompt) -> None:
        session.turn = prompt
        self.append(
            prompt.session_id,
            _K.PROMPT,
            {"prompt_id": prompt.prompt_id, "text": prompt.text, "resources": prompt.resources},
        )
        self._state(session, SessionState.RUNNING)

    async def _session_prompt(self, prompt: SessionPrompt) -> SessionAck:
        session = self._running(prompt.session_id)
        if session.turn is not None:
            session.queue.append(prompt)
            return SessionAck(session_id=prompt.session_id, queued=len(session.queue))
        self._begin_turn(session, prompt)
        return SessionAck(session_id=prompt.session_id)

    async def _session_cancel(self, ref: SessionRef) -> SessionAck:
        session = self._running(ref.session_id)
        if session.queue:
            self.append(
                ref.session_id,
                _K.NOTICE,
                {
                    "code": "prompts_dropped",
                    "prompt_ids": [p.prompt_id for p in session.queue],
                    "message": "cancelled",
                },
            )
            session.queue.clear()
        if session.turn is not None:
            self._decide_all(session, policy="cancelled")
            self.append(
                ref.session_id,
                _K.TURN_END,
                {"prompt_id": session.turn.prompt_id, "stop_reason": "cancelled"},
            )
            session.turn = None
            self._state(session, SessionState.IDLE)
        return SessionAck(session_id=ref.session_id)

    def _decide_all(self, session: MemorySession, *, policy: str) -> None:
        for request_id in list(session.pending):
            self.append(
                session.start.session_id,
                _K.PERMISSION_DECISION,
                {"request_id": request_id, "outcome": "cancelled", "policy": policy},
            )
        session.pending.clear()

    def _end(self, session: MemorySession) -> None:
        """The agent process ends: what it still asked waits for no answer (the control plane
        cancels it when it learns of the end)."""
        session.pending.clear()
        session.queue.clear()
        session.turn = None
        self._state(session, SessionState.STOPPED, reason="stopped")

    def _close_workspace(self, workspace_id: str) -> None:
        """A workspace that stops ends its sessions, as a node's do (their `stopped` states wait
        in the outbox for `flush`)."""
        super()._close_workspace(workspace_id)
        for session in self.sessions.values():
            if session.start.workspace_id == workspace_id and not session.ended:
                self._end(session)

    async def _session_stop(self, ref: SessionRef) -> SessionAck:
        session = self.sessions.get(ref.session_id)
        if session is not None and not session.ended:
            self._end(session)
        return SessionAck(session_id=ref.session_id)

    async def _session_set_mode(self, request: SessionSetMode) -> SessionAck:
        self._running(request.session_id).mode = request.mode_id
        return SessionAck(session_id=request.session_id)

    async def _session_set_model(self, request: SessionSetModel) -> SessionAck:
        self._running(request.session_id).model = request.model_id
        return SessionAck(session_id=request.session_id)

    async def _session_permission(self, answer: PermissionAnswer) -> SessionAck:
        session = self._running(answer.session_id)
        if answer.request_id not in session.pending:
            raise Conflict(
                f"permission request {answer.request_id} is not pending", reason="not_pending"
            )
        del session.pending[answer.request_id]
        session.answers.append(answer)
        selected = answer.option_id is not None
        self.append(
            answer.session_id,
            _K.PERMISSION_DECISION,
            {
                "request_id": answer.request_id,
                "outcome": "selected" if selected else "cancelled",
                "option_id": answer.option_id,
                "by": answer.by,
            },
        )
        if not session.pending:
            self._state(session, SessionState.RUNNING)
        return SessionAck(session_id=answer.session_id)

    async def _session_list(self, _: Empty) -> SessionList:
        return SessionList(
            sessions=[
                SessionSummary(id=session_id, state=session.state.value)
                for session_id, session in self.sessions.items()
                if not session.ended
            ]
        )


def _acp_id(start: SessionStart) -> str:
    """The agent's own id of the session: the loaded one when it continues one."""
    return start.load_session_id or f"acp-{start.session_id}"
