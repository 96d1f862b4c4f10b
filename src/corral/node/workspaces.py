"""The node's side of workspaces: runs their runtimes, keeps handles, reports state as events.

A node has several runtimes by name (`host`, `devcontainer`); each workspace names its own when
it is made, and its handle says which one it is in from then on. Handles are written to
`<data dir>/state/<workspace id>.json` when a workspace is made, so a restarted node still knows
its workspaces and their runtime handles. A create or a rebuild answers at once (`creating`,
`rebuilding`); the work runs in the background and its outcome is sent as a `workspace.state`
event, with throttled `workspace.progress` lines meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from corral.errors import CorralError, InvalidInput, NotFound
from corral.node.gitpublish import publish
from corral.node.ptyclient import PtyHostClient
from corral.node.runtimes.base import (
    Progress,
    Runtime,
    RuntimeStatus,
    WorkspaceHandle,
    WorkspaceUnbuilt,
)
from corral.protocol.messages import (
    Body,
    GitCredential,
    GitCredentialRequest,
    RuntimeInfo,
    WorkspaceList,
    WorkspaceProgress,
    WorkspacePublish,
    WorkspacePublished,
    WorkspaceRebuild,
    WorkspaceSpec,
    WorkspaceStatus,
)
from corral.states import WorkspaceState

__all__ = ["NodeWorkspaces"]

log = logging.getLogger("corral.node.workspaces")
Notify = Callable[[str, Body], Awaitable[None]]
Ask = Callable[[GitCredentialRequest], Awaitable[GitCredential]]

_PERCENT = re.compile(r"\d+%")
_STATE_BY_RUNTIME = {
    RuntimeStatus.RUNNING: WorkspaceState.RUNNING,
    RuntimeStatus.STOPPED: WorkspaceState.STOPPED,
}


class NodeWorkspaces:
    """`runtimes` are the node's working runtimes by name, in its order of preference;
    `unavailable` names those configured that cannot work here, with the reason."""

    def __init__(
        self,
        runtimes: Mapping[str, Runtime],
        terminals: PtyHostClient,
        state_dir: Path,
        *,
        progress_interval_seconds: float,
        unavailable: Mapping[str, str] | None = None,
        git_timeout_seconds: float = 300.0,
    ) -> None:
        self.runtimes = dict(runtimes)
        for runtime in self.runtimes.values():
            runtime.credentials = self.git_credential
        self.git_timeout_seconds = git_timeout_seconds
        self.unavailable = dict(unavailable or {})
        self.terminals = terminals
        self.state_dir = state_dir
        self.progress_interval_seconds = progress_interval_seconds
        self.notify: Notify | None = None
        self.ask_credential: Ask | None = None
        """Asks the control plane for a git credential (`git.credential`); None: not linked."""
        self._busy: dict[str, tuple[WorkspaceState, asyncio.Task[None]]] = {}
        """Workspaces being made or rebuilt, with that state, by id."""
        self._pending_sends: set[asyncio.Task[None]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)

    # -- runtimes ------------------------------------------------------------------------------

    def runtime(self, name: str) -> Runtime:
        runtime = self.runtimes.get(name)
        if runtime is not None:
            return runtime
        if name in self.unavailable:
            raise InvalidInput(
                f"the {name} runtime cannot work on this node: {self.unavailable[name]}",
                reason="runtime_unavailable",
            )
        known = ", ".join(self.runtimes) or "none"
        raise InvalidInput(
            f"this node has no runtime named {name!r} (it has: {known})", reason="unknown_runtime"
        )

    def runtime_of(self, workspace_id: str) -> tuple[Runtime, WorkspaceHandle]:
        """The workspace's handle and the runtime it is in."""
        handle = self.handle(workspace_id)
        return self.runtime(handle.runtime), handle

    def runtime_infos(self) -> list[RuntimeInfo]:
        infos = [runtime.info() for runtime in self.runtimes.values()]
        infos += [
            RuntimeInfo(name=name, available=False, problem=problem[:500])
            for name, problem in self.unavailable.items()
        ]
        return infos

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
        made = {path.stem for path in self.state_dir.glob("*.json")}
        return len(made | set(self._busy))

    # -- requests ------------------------------------------------------------------------------

    async def create(self, spec: WorkspaceSpec) -> WorkspaceStatus:
        if self._path(spec.id).exists():
            return await self.status(spec.id)
        runtime = self.runtime(spec.runtime)
        if spec.id not in self._busy:
            self._in_background(
                spec.id,
                WorkspaceState.CREATING,
                lambda progress: runtime.create(spec, progress),
                failure="the node failed to make the workspace",
            )
        return WorkspaceStatus(id=spec.id, state=self._busy[spec.id][0])

    async def rebuild(self, request: WorkspaceRebuild) -> WorkspaceStatus:
        """Stop the workspace's terminals (the caller stops its sessions) and make its
        container anew in the background."""
        async with self.lock(request.id):
            if request.id in self._busy:
                return WorkspaceStatus(id=request.id, state=self._busy[request.id][0])
            runtime, handle = self.runtime_of(request.id)
            await self.terminals.close_workspace(request.id)
            self._in_background(
                request.id,
                WorkspaceState.REBUILDING,
                lambda progress: runtime.rebuild(handle, request, progress),
                failure="the node failed to rebuild the workspace",
            )
        return WorkspaceStatus(id=request.id, state=WorkspaceState.REBUILDING)

    def _in_background(
        self,
        workspace_id: str,
        state: WorkspaceState,
        work: Callable[[Progress], Awaitable[WorkspaceHandle]],
        *,
        failure: str,
    ) -> None:
        """Run `work` (a create or a rebuild), showing `state` meanwhile, then save the handle
        it returns and report the outcome."""
        task = asyncio.create_task(
            self._run_work(workspace_id, work, failure), name=f"{state} {workspace_id}"
        )
        self._busy[workspace_id] = (state, task)
        task.add_done_callback(lambda _: self._busy.pop(workspace_id, None))

    async def _run_work(
        self,
        workspace_id: str,
        work: Callable[[Progress], Awaitable[WorkspaceHandle]],
        failure: str,
    ) -> None:
        last_sent = 0.0

        def progress(line: str) -> None:
            nonlocal last_sent
            now = time.monotonic()
            # A redrawn progress line (git's "Receiving objects:  45% (450/1000)") is sent at
            # most once an interval; every other line (a build step, an error) is sent.
            redraw = _PERCENT.search(line) is not None
            if line.strip() and (not redraw or now - last_sent >= self.progress_interval_seconds):
                last_sent = now
                self._send_soon(
                    "workspace.progress", WorkspaceProgress(id=workspace_id, line=line[:4000])
                )

        try:
            handle = await work(progress)
        except WorkspaceUnbuilt as exc:
            self._save(exc.handle)
            status = WorkspaceStatus(
                id=workspace_id, state=WorkspaceState.ERROR, reason=exc.message[:4000]
            )
        except CorralError as exc:
            status = WorkspaceStatus(
                id=workspace_id, state=WorkspaceState.ERROR, reason=exc.message[:4000]
            )
        except Exception:
            log.exception("%s (workspace %s)", failure, workspace_id)
            status = WorkspaceStatus(id=workspace_id, state=WorkspaceState.ERROR, reason=failure)
        else:
            self._save(handle)
            status = WorkspaceStatus(id=workspace_id, state=WorkspaceState.RUNNING)
        await self._send("workspace.state", status)

    async def status(self, workspace_id: str) -> WorkspaceStatus:
        if workspace_id in self._busy:
            return WorkspaceStatus(id=workspace_id, state=self._busy[workspace_id][0])
        runtime, handle = self.runtime_of(workspace_id)
        found = await runtime.status(handle)
        if found == RuntimeStatus.MISSING:
            return WorkspaceStatus(
                id=workspace_id,
                state=WorkspaceState.ERROR,
                reason="the workspace's files are gone from the node",
            )
        if found == RuntimeStatus.UNBUILT:
            return WorkspaceStatus(
                id=workspace_id,
                state=WorkspaceState.ERROR,
                reason="its container could not be built: rebuild it, with the node's default "
                "image if its configuration does not build",
            )
        return WorkspaceStatus(id=workspace_id, state=_STATE_BY_RUNTIME[found])

    async def list(self) -> WorkspaceList:
        made = sorted(path.stem for path in self.state_dir.glob("*.json"))
        ids = made + [wid for wid in self._busy if wid not in made]
        return WorkspaceList(workspaces=[await self._listed(wid) for wid in ids])

    async def _listed(self, workspace_id: str) -> WorkspaceStatus:
        try:
            return await self.status(workspace_id)
        except CorralError as exc:  # its runtime is gone from the node's settings
            return WorkspaceStatus(id=workspace_id, state=WorkspaceState.ERROR, reason=exc.message)

    def lock(self, workspace_id: str) -> asyncio.Lock:
        """Held while a workspace starts, stops or is deleted, and while a terminal is made in
        it, so no terminal can slip in while the workspace is going away."""
        return self._locks.setdefault(workspace_id, asyncio.Lock())

    async def stop(self, workspace_id: str) -> WorkspaceStatus:
        async with self.lock(workspace_id):
            self._refuse_busy(workspace_id)
            runtime, handle = self.runtime_of(workspace_id)
            await self.terminals.close_workspace(workspace_id)
            await runtime.stop(handle)
            return await self._report(await self.status(workspace_id))

    async def start(self, workspace_id: str) -> WorkspaceStatus:
        async with self.lock(workspace_id):
            self._refuse_busy(workspace_id)
            runtime, handle = self.runtime_of(workspace_id)
            await runtime.start(handle)
            return await self._report(await self.status(workspace_id))

    def _refuse_busy(self, workspace_id: str) -> None:
        if workspace_id in self._busy:
            state = self._busy[workspace_id][0]
            raise InvalidInput(
                f"workspace {workspace_id} is {state.value}; wait for it to finish",
                reason=f"workspace_{state.value}",
            )

    async def delete(self, workspace_id: str) -> WorkspaceStatus:
        busy = self._busy.get(workspace_id)
        if busy is not None:
            busy[1].cancel()
            await asyncio.gather(busy[1], return_exceptions=True)
        async with self.lock(workspace_id):
            await self.terminals.close_workspace(workspace_id)
            if self._path(workspace_id).exists():
                runtime, handle = self.runtime_of(workspace_id)
                await runtime.delete(handle)
                self._path(workspace_id).unlink(missing_ok=True)
        self._locks.pop(workspace_id, None)
        return await self._report(WorkspaceStatus(id=workspace_id, state=WorkspaceState.DELETED))

    async def _report(self, status: WorkspaceStatus) -> WorkspaceStatus:
        """Send the outcome as an event too: if the request timed out or the link dropped,
        the control plane still learns it."""
        await self._send("workspace.state", status)
        return status

    async def git_credential(self, workspace_id: str) -> GitCredential:
        """The credential to clone the workspace's repository with, fresh from the control
        plane; never kept."""
        ask = self.ask_credential
        if ask is None:
            raise InvalidInput(
                "this node is not linked to the control plane, which holds the repository's "
                "credential",
                reason="node_not_linked",
            )
        return await ask(GitCredentialRequest(workspace_id=workspace_id, purpose="fetch"))

    async def publish(self, request: WorkspacePublish) -> WorkspacePublished:
        """Commit and push the workspace's work (`corral.node.gitpublish`)."""
        async with self.lock(request.workspace_id):
            self._refuse_busy(request.workspace_id)
            runtime, handle = self.runtime_of(request.workspace_id)
            return await publish(runtime, handle, request, timeout_seconds=self.git_timeout_seconds)

    async def shutdown(self) -> None:
        tasks = [task for _, task in self._busy.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for runtime in self.runtimes.values():
            await runtime.close()

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
