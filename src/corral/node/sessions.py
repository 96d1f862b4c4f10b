"""The node's agent sessions: starts and steers them for the control plane, and carries their
events to it through the outbox.

Sessions live in this process (an agent's stdio is tied to it): when the node daemon restarts,
its sessions end, and the control plane continues a conversation by starting a new session that
loads the old one. Their events survive in the outbox and are sent after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

from corral.errors import Conflict, CorralError, NotFound
from corral.netenv import NetworkEnvironment
from corral.node.acp.install import AgentInstaller
from corral.node.acp.outbox import Outbox
from corral.node.acp.session import SessionHost
from corral.node.settings import SessionSettings
from corral.node.workspaces import NodeWorkspaces
from corral.protocol.base import Empty
from corral.protocol.peer import Handler, Peer
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
        self._sender: asyncio.Task[None] | None = None

    # -- the link ------------------------------------------------------------------------------

    def linked(self, peer: Peer | None) -> None:
        """The control plane link came up (send what is waiting) or went down."""
        self._upstream = peer
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_forever(), name="session events")
        self._wake.set()

    def _emit_for(self, session_id: str) -> Any:
        def emit(kind: SessionEventKind, payload: dict[str, Any]) -> None:
            self.outbox.append(session_id, kind, payload)
            self._wake.set()

        return emit

    async def _send_forever(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            peer = self._upstream
            if peer is None:
                continue
            try:
                for session_id in self.outbox.sessions_with_events():
                    await self._send_session(peer, session_id)
            except CorralError as exc:
                log.info("sending session events failed: %s; retrying", exc.message)
                await asyncio.sleep(RETRY_SECONDS)
                self._wake.set()

    async def _send_session(self, peer: Peer, session_id: str) -> None:
        while batch := self.outbox.pending(
            session_id, limit=MAX_EVENTS_PER_BATCH, max_bytes=MAX_BATCH_BYTES
        ):
            try:
                ack = await peer.call(
                    "session.events",
                    SessionEvents(session_id=session_id, events=batch),
                    SessionEventsAck,
                )
            except NotFound:
                log.info("the control plane has no session %s: dropping its events", session_id)
                self.outbox.forget(session_id)
                return
            self.outbox.acknowledge(session_id, ack.acked_seq)
            if ack.acked_seq < batch[-1].seq:
                return  # the control plane took less than everything; try again later

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
                        for session_id in self.outbox.sessions_with_events():
                            await self._send_session(peer, session_id)
            self._sender.cancel()
            await asyncio.gather(self._sender, return_exceptions=True)
        self.outbox.close()
