"""The node's side of workspaces: runs the runtime, keeps handles, reports state as events.

Handles are written to `<data dir>/state/<workspace id>.json` when a workspace is made, so a
restarted node still knows its workspaces and their runtime handles. A create answers at once
(`creating`); the clone runs in the background and its outcome is sent as a `workspace.state`
event, with throttled `workspace.progress` lines meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from corral.errors import CorralError, NotFound
from corral.node.ptyclient import PtyHostClient
from corral.node.runtimes.base import Runtime, RuntimeStatus, WorkspaceHandle
from corral.protocol.messages import (
    Body,
    WorkspaceList,
    WorkspaceProgress,
    WorkspaceSpec,
    WorkspaceStatus,
)
from corral.states import WorkspaceState

__all__ = ["NodeWorkspaces"]

log = logging.getLogger("corral.node.workspaces")
Notify = Callable[[str, Body], Awaitable[None]]

_STATE_BY_RUNTIME = {
    RuntimeStatus.RUNNING: WorkspaceState.RUNNING,
    RuntimeStatus.STOPPED: WorkspaceState.STOPPED,
}


class NodeWorkspaces:
    def __init__(
        self,
        runtime: Runtime,
        terminals: PtyHostClient,
        state_dir: Path,
        *,
        progress_interval_seconds: float,
    ) -> None:
        self.runtime = runtime
        self.terminals = terminals
        self.state_dir = state_dir
        self.progress_interval_seconds = progress_interval_seconds
        self.notify: Notify | None = None
        self._creating: dict[str, asyncio.Task[None]] = {}
        self._pending_sends: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    # -- handles -------------------------------------------------------------------------------

    def _path(self, workspace_id: str) -> Path:
        return self.state_dir / f"{workspace_id}.json"

    def handle(self, workspace_id: str) -> WorkspaceHandle:
        path = self._path(workspace_id)
        if not path.exists():
            raise NotFound(f"workspace {workspace_id} is not on this node", reason="no_workspace")
        return WorkspaceHandle.model_validate_json(path.read_text())

    def _save(self, handle: WorkspaceHandle) -> None:
        tmp = self._path(handle.workspace_id).with_suffix(".tmp")
        tmp.write_text(handle.model_dump_json())
        tmp.replace(self._path(handle.workspace_id))

    def count(self) -> int:
        return len(list(self.state_dir.glob("*.json"))) + len(self._creating)

    # -- requests ------------------------------------------------------------------------------

    async def create(self, spec: WorkspaceSpec) -> WorkspaceStatus:
        if self._path(spec.id).exists():
            return await self.status(spec.id)
        if spec.id not in self._creating:
            task = asyncio.create_task(self._create(spec), name=f"create {spec.id}")
            self._creating[spec.id] = task
            task.add_done_callback(lambda _: self._creating.pop(spec.id, None))
        return WorkspaceStatus(id=spec.id, state=WorkspaceState.CREATING)

    async def _create(self, spec: WorkspaceSpec) -> None:
        last_sent = 0.0

        def progress(line: str) -> None:
            nonlocal last_sent
            now = time.monotonic()
            if now - last_sent >= self.progress_interval_seconds and line.strip():
                last_sent = now
                self._send_soon(
                    "workspace.progress", WorkspaceProgress(id=spec.id, line=line[:4000])
                )

        try:
            handle = await self.runtime.create(spec, progress)
        except CorralError as exc:
            status = WorkspaceStatus(
                id=spec.id, state=WorkspaceState.ERROR, reason=exc.message[:4000]
            )
        except Exception:
            log.exception("making workspace %s failed", spec.id)
            status = WorkspaceStatus(
                id=spec.id,
                state=WorkspaceState.ERROR,
                reason="the node failed to make the workspace",
            )
        else:
            self._save(handle)
            status = WorkspaceStatus(id=spec.id, state=WorkspaceState.RUNNING)
        await self._send("workspace.state", status)

    async def status(self, workspace_id: str) -> WorkspaceStatus:
        if workspace_id in self._creating:
            return WorkspaceStatus(id=workspace_id, state=WorkspaceState.CREATING)
        handle = self.handle(workspace_id)
        found = await self.runtime.status(handle)
        if found == RuntimeStatus.MISSING:
            return WorkspaceStatus(
                id=workspace_id,
                state=WorkspaceState.ERROR,
                reason="the workspace's files are gone from the node",
            )
        return WorkspaceStatus(id=workspace_id, state=_STATE_BY_RUNTIME[found])

    async def list(self) -> WorkspaceList:
        statuses = [await self.status(path.stem) for path in sorted(self.state_dir.glob("*.json"))]
        statuses += [
            WorkspaceStatus(id=wid, state=WorkspaceState.CREATING) for wid in self._creating
        ]
        return WorkspaceList(workspaces=statuses)

    def lock(self, workspace_id: str) -> asyncio.Lock:
        """Held while a workspace starts, stops or is deleted, and while a terminal is made in
        it, so no terminal can slip in while the workspace is going away."""
        return self._locks.setdefault(workspace_id, asyncio.Lock())

    async def stop(self, workspace_id: str) -> WorkspaceStatus:
        async with self.lock(workspace_id):
            handle = self.handle(workspace_id)
            await self.terminals.close_workspace(workspace_id)
            await self.runtime.stop(handle)
            return await self._report(await self.status(workspace_id))

    async def start(self, workspace_id: str) -> WorkspaceStatus:
        async with self.lock(workspace_id):
            await self.runtime.start(self.handle(workspace_id))
            return await self._report(await self.status(workspace_id))

    async def delete(self, workspace_id: str) -> WorkspaceStatus:
        task = self._creating.get(workspace_id)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        async with self.lock(workspace_id):
            await self.terminals.close_workspace(workspace_id)
            if self._path(workspace_id).exists():
                await self.runtime.delete(self.handle(workspace_id))
                self._path(workspace_id).unlink(missing_ok=True)
        self._locks.pop(workspace_id, None)
        return await self._report(WorkspaceStatus(id=workspace_id, state=WorkspaceState.DELETED))

    async def _report(self, status: WorkspaceStatus) -> WorkspaceStatus:
        """Send the outcome as an event too: if the request timed out or the link dropped,
        the control plane still learns it."""
        await self._send("workspace.state", status)
        return status

    async def shutdown(self) -> None:
        tasks = list(self._creating.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- events --------------------------------------------------------------------------------

    async def _send(self, name: str, body: Body) -> None:
        if self.notify is None:
            return
        try:
            await self.notify(name, body)
        except CorralError as exc:
            # The link is down: the control plane reconciles from `list` when it is back.
            log.info("could not send %s: %s", name, exc.message)

    def _send_soon(self, name: str, body: Body) -> None:
        task = asyncio.get_running_loop().create_task(self._send(name, body))
        self._pending_sends.add(task)
        task.add_done_callback(self._pending_sends.discard)
