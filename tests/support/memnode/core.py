"""What every part of the in-memory node shares: the workspaces it holds, its outbox of session
events and the request log (see `tests.support.memnode`)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from datetime import UTC, datetime
from typing import Any

from corral.control.db.models import Node
from corral.control.state import AppState
from corral.errors import CorralError, NotFound
from corral.protocol.messages import Body, WorkspaceStatus
from corral.protocol.peer import Handler, Peer
from corral.protocol.sessions import (
    MAX_EVENTS_PER_BATCH,
    SessionEvent,
    SessionEventKind,
    SessionEvents,
    SessionEventsAck,
)

__all__ = ["NodeCore"]


class NodeCore:
    def __init__(self, state: AppState, node: Node) -> None:
        self.state = state
        self.node = node
        self.peer: Peer | None = None
        """The node's end of the link, while linked."""
        self.workspaces: dict[str, WorkspaceStatus] = {}
        self.requests: list[tuple[str, Body]] = []
        """Every request the control plane sent, in order: (method, params)."""
        self._failures: dict[str, CorralError] = {}
        self._next_seq: dict[str, int] = {}
        self._outbox: list[tuple[str, SessionEvent]] = []
        self._sending = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()

    @property
    def id(self) -> str:
        return self.node.id

    @property
    def name(self) -> str:
        return self.node.name

    @property
    def linked(self) -> bool:
        return self.peer is not None and not self.peer.closed

    def _spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def append(self, session_id: str, kind: SessionEventKind, payload: dict[str, Any]) -> int:
        """Put an event of the session in the outbox, numbered as the node numbers them; return
        its number. `flush` sends it."""
        seq = self._next_seq.get(session_id, 1)
        self._next_seq[session_id] = seq + 1
        event = SessionEvent(seq=seq, kind=kind, payload=payload, at=datetime.now(UTC))
        self._outbox.append((session_id, event))
        return seq

    async def emit(self, session_id: str, kind: SessionEventKind, payload: dict[str, Any]) -> int:
        """An event of the session, stored by the control plane when this returns."""
        seq = self.append(session_id, kind, payload)
        await self.flush()
        return seq

    async def flush(self) -> None:
        """Send the outbox, a batch of one session's events at a time, as the node's sender
        does; returns once the control plane has acknowledged them (an unlinked node keeps
        them for its next link)."""
        async with self._sending:
            while self._outbox and self.linked:
                assert self.peer is not None
                session_id = self._outbox[0][0]
                batch = [e for s, e in self._outbox if s == session_id][:MAX_EVENTS_PER_BATCH]
                try:
                    ack = await self.peer.call(
                        "session.events",
                        SessionEvents(session_id=session_id, events=batch),
                        SessionEventsAck,
                    )
                except NotFound:  # the control plane has no such session: a node drops them
                    self._outbox = [(s, e) for s, e in self._outbox if s != session_id]
                    continue
                self._outbox = [
                    (s, e) for s, e in self._outbox if s != session_id or e.seq > ack.acked_seq
                ]

    @property
    def unsent(self) -> int:
        return len(self._outbox)

    def take_unsent(self) -> list[tuple[str, SessionEvent]]:
        """The events not sent yet, which the test will send itself."""
        taken, self._outbox = self._outbox, []
        return taken

    def fail(self, method: str, error: CorralError) -> None:
        """Answer the next `method` request with `error` (which keeps its kind across the link)."""
        self._failures[method] = error

    def _recorded(self, method: str, handler: Handler) -> Handler:
        async def serve(params: Any) -> Body:
            self.requests.append((method, params))
            failure = self._failures.pop(method, None)
            if failure is not None:
                raise failure
            return await handler(params)

        return serve

    def sent(self, method: str) -> list[Any]:
        """The params of each `method` request the control plane sent, in order."""
        return [params for name, params in self.requests if name == method]

    def _close_workspace(self, workspace_id: str) -> None:
        """What else ends when a workspace stops or goes away (its sessions: `SessionsPart`)."""

    def _workspace(self, workspace_id: str) -> WorkspaceStatus:
        status = self.workspaces.get(workspace_id)
        if status is None:
            raise NotFound(f"no workspace {workspace_id} on this node")
        return status
