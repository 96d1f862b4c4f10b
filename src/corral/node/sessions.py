"""The node's agent sessions: starts and steers them for the control plane, and carries their
events to it through the outbox.

Sessions live in this process (an agent's stdio is tied to it): when the node daemon restarts,
its sessions end, and the control plane continues a conversation by starting a new session that
loads the old one. Their events survive in the outbox and are sent after the restart.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from pathlib import Path
from typing import Any

from corral.errors import Conflict, CorralError, NotFound
from corral.netenv import NetworkEnvironment
from corral.node.acp.install import AgentInstaller
from corral.node.acp.outbox import Outbox, OutboxEvent, encoded_batch
from corral.node.acp.session import SessionHost
from corral.node.settings import SessionSettings
from corral.node.workspaces import NodeWorkspaces
from corral.protocol.base import Empty
from corral.protocol.peer import Encoded, Handler, Peer
from corral.protocol.sessions import (
    MAX_EVENTS_PER_BATCH,
    PermissionAnswer,
    SessionAck,
    SessionEventKind,
    SessionEvents,
    SessionEventsAck,
    SessionList,
    SessionPrompt,
    SessionRef,
    SessionSetMode,
    SessionSetModel,
    SessionStart,
    SessionSummary,
)

__all__ = ["NodeSessions"]

log = logging.getLogger("corral.node.sessions")

MAX_BATCH_BYTES = 768 * 1024
MAX_BATCHES_IN_FLIGHT = 16
MAX_BYTES_IN_FLIGHT = 2 * MAX_BATCH_BYTES
"""Batches in flight, sent and not yet acknowledged: many small ones (busy sessions each send
their own, and a round trip per few batches left the control plane idle half the time), or a
few large ones: what each node makes the control plane hold at once stays bounded."""
MAX_UNACKNOWLEDGED_EVENTS = 32 * MAX_EVENTS_PER_BATCH
"""While the link is up, agents' output is read only while fewer events than this wait for the
control plane: reading 50 flooding agents must not starve the sender, or the node parses
everything first and the control plane stores it after, instead of both at once. While the link
is down, the outbox takes all (on disk) and agents run on."""
RETRY_SECONDS = 1.0


class NodeSessions:
    def __init__(
        self,
        workspaces: NodeWorkspaces,
        data_dir: Path,
        *,
        agents_dir: Path,
        settings: SessionSettings | None = None,
        network: NetworkEnvironment | None = None,
    ) -> None:
        self.workspaces = workspaces
        self.outbox = Outbox(data_dir / "sessions" / "outbox.sqlite3")
        self.installer = AgentInstaller(agents_dir, network=network)
        self.settings = settings or SessionSettings()
        self._hosts: dict[str, SessionHost] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._upstream: Peer | None = None
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._sender: asyncio.Task[None] | None = None

    # -- the link ------------------------------------------------------------------------------

    def linked(self, peer: Peer | None) -> None:
        """The control plane link came up (send what is waiting) or went down."""
        self._upstream = peer
        self._check_room()
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_forever(), name="session events")
        self._wake.set()

    def _emit_for(self, session_id: str) -> Any:
        def emit(kind: SessionEventKind, payload: dict[str, Any]) -> None:
            self.outbox.append(session_id, kind, payload)
            self._wake.set()
            self._check_room()

        return emit

    def _check_room(self) -> None:
        if self._upstream is None or self.outbox.unacknowledged < MAX_UNACKNOWLEDGED_EVENTS:
            self._room.set()
        else:
            self._room.clear()

    async def _agent_output_wanted(self) -> None:
        """Wait until agents' output may be read (see MAX_UNACKNOWLEDGED_EVENTS)."""
        await self._room.wait()

    async def _send_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            peer = self._upstream
            if peer is None:
                continue
            try:
                await self._send_waiting(peer)
            except CorralError as exc:
                log.info("sending session events failed: %s; retrying", exc.message)
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()

    async def _send_waiting(self, peer: Peer) -> None:
        """Send every session's waiting events, keeping up to MAX_BATCHES_IN_FLIGHT batches on
        the link, taken from the sessions in turn: the control plane stores one batch while the
        next is on its way, and one busy session does not hold up the others. A batch leaves
        the outbox only when the control plane has acknowledged it."""
        in_flight: collections.deque[tuple[str, int, int, asyncio.Future[SessionEventsAck]]] = (
            collections.deque()
        )
        bytes_in_flight = 0
        sent: dict[str, int] = {}  # per session: the last event sent in this pass
        held: set[str] = set()  # sessions not to send more of in this pass
        turn = 0
        try:
            while True:
                while len(in_flight) < MAX_BATCHES_IN_FLIGHT and (
                    not in_flight or bytes_in_flight < MAX_BYTES_IN_FLIGHT
                ):
                    picked = self._next_batch(sent, held, turn)
                    if picked is None:
                        break
                    turn, session_id, batch = picked
                    sent[session_id] = batch[-1].seq
                    size = sum(event.size for event in batch)
                    bytes_in_flight += size
                    call = peer.call(
                        "session.events",
                        Encoded(SessionEvents, encoded_batch(session_id, batch)),
                        SessionEventsAck,
                    )
                    in_flight.append((session_id, batch[-1].seq, size, asyncio.ensure_future(call)))
                if not in_flight:
                    self.outbox.flush()  # the acknowledged events leave the file
                    return
                session_id, last, size, answer = in_flight.popleft()
                bytes_in_flight -= size
                try:
                    ack = await answer
                except NotFound:
                    log.info("the control plane has no session %s: dropping its events", session_id)
                    self.outbox.forget(session_id)
                    self._check_room()
                    held.add(session_id)
                    continue
                self.outbox.acknowledge(session_id, ack.acked_seq)
                self._check_room()
                if ack.acked_seq < last:
                    held.add(session_id)  # the control plane took less than all; later
        finally:
            for *_, answer in in_flight:
                answer.cancel()
            await asyncio.gather(*(answer for *_, answer in in_flight), return_exceptions=True)

    def _next_batch(
        self, sent: dict[str, int], held: set[str], turn: int
    ) -> tuple[int, str, list[OutboxEvent]] | None:
        """The next batch to send, from the first session at or after `turn` (in the outbox's
        order) that has events not sent yet; with the turn after it."""
        sessions = self.outbox.sessions_with_events()
        for offset in range(len(sessions)):
            index = (turn + offset) % len(sessions)
            session_id = sessions[index]
            if session_id in held:
                continue
            batch = self.outbox.pending(
                session_id,
                after=sent.get(session_id, 0),
                limit=MAX_EVENTS_PER_BATCH,
                max_bytes=MAX_BATCH_BYTES,
            )
            if batch:
                return index + 1, session_id, batch
        return None

    # -- requests from the control plane ---------------------------------------------------------

    def handlers(self) -> dict[str, Handler]:
        return {
            "session.start": self._start,
            "session.prompt": self._prompt,
            "session.cancel": self._cancel,
            "session.stop": self._stop,
            "session.set_mode": self._set_mode,
            "session.set_model": self._set_model,
            "session.permission": self._permission,
            "session.list": self._list,
        }

    def _host(self, session_id: str) -> SessionHost:
        host = self._hosts.get(session_id)
        if host is None or host.ended:
            raise NotFound(f"session {session_id} is not running on this node", reason="no_session")
        return host

    async def _start(self, start: SessionStart) -> SessionAck:
        existing = self._hosts.get(start.session_id)
        if existing is not None and not existing.ended:
            return SessionAck(session_id=start.session_id)  # a repeated request
        async with self.workspaces.lock(start.workspace_id):
            runtime, handle = self.workspaces.runtime_of(start.workspace_id)
            self.outbox.start_at(start.session_id, start.next_seq)
            host = SessionHost(
                start,
                runtime=runtime,
                handle=handle,
                installer=self.installer,
                emit=self._emit_for(start.session_id),
                settings=self.settings,
                ready=self._agent_output_wanted,
            )
            self._hosts[start.session_id] = host
            task = asyncio.create_task(host.run(), name=f"session {start.session_id}")
            self._tasks[start.session_id] = task
            task.add_done_callback(lambda _: self._forget(start.session_id, host))
        return SessionAck(session_id=start.session_id)

    def _forget(self, session_id: str, host: SessionHost) -> None:
        self._tasks.pop(session_id, None)
        if self._hosts.get(session_id) is host:
            del self._hosts[session_id]

    async def _prompt(self, prompt: SessionPrompt) -> SessionAck:
        queued = self._host(prompt.session_id).prompt(prompt)
        return SessionAck(session_id=prompt.session_id, queued=queued)

    async def _cancel(self, ref: SessionRef) -> SessionAck:
        await self._host(ref.session_id).cancel()
        return SessionAck(session_id=ref.session_id)

    async def _stop(self, ref: SessionRef) -> SessionAck:
        host = self._hosts.get(ref.session_id)
        if host is not None:
            await host.stop()
        return SessionAck(session_id=ref.session_id)

    async def _set_mode(self, request: SessionSetMode) -> SessionAck:
        await self._host(request.session_id).set_mode(request.mode_id)
        return SessionAck(session_id=request.session_id)

    async def _set_model(self, request: SessionSetModel) -> SessionAck:
        await self._host(request.session_id).set_model(request.model_id)
        return SessionAck(session_id=request.session_id)

    async def _permission(self, answer: PermissionAnswer) -> SessionAck:
        host = self._host(answer.session_id)
        try:
            host.answer_permission(answer.request_id, answer.option_id, answer.by)
        except CorralError as exc:
            raise Conflict(exc.message, reason="not_pending") from None
        return SessionAck(session_id=answer.session_id)

    async def _list(self, _: Empty) -> SessionList:
        return SessionList(
            sessions=[
                SessionSummary(id=host.id, state=host.state.value)
                for host in self._hosts.values()
                if not host.ended
            ]
        )

    # -- workspaces and shutdown -------------------------------------------------------------------

    async def close_workspace(self, workspace_id: str) -> None:
        """Stop the sessions of a workspace that stops or goes away."""
        hosts = [h for h in self._hosts.values() if h.handle.workspace_id == workspace_id]
        await asyncio.gather(*(host.stop() for host in hosts))

    def count(self) -> int:
        return sum(1 for host in self._hosts.values() if not host.ended)

    async def shutdown(self) -> None:
        await asyncio.gather(*(host.stop() for host in self._hosts.values()))
        if self._sender is not None:
            # One last try to send the final states while the link may still be up.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    peer = self._upstream
                    if peer is not None:
                        await self._send_waiting(peer)
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        self.outbox.close()
