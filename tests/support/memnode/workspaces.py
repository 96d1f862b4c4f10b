"""The in-memory node's workspaces and terminals: the `workspace.*` and `terminal.*` requests, and
the node's side of terminal streams."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from corral.control.db.models import Node
from corral.control.state import AppState
from corral.errors import Conflict, InvalidInput, NotFound
from corral.ids import new_id
from corral.protocol.messages import (
    Empty,
    RuntimeInfo,
    TerminalAttach,
    TerminalAttached,
    TerminalCreate,
    TerminalInfo,
    TerminalList,
    TerminalQuery,
    TerminalRef,
    TerminalResize,
    WorkspaceList,
    WorkspaceRebuild,
    WorkspaceRef,
    WorkspaceSpec,
    WorkspaceStatus,
)
from corral.protocol.peer import Handler
from corral.states import WorkspaceState
from tests.support.memnode.core import NodeCore

__all__ = ["WorkspacesPart"]


@dataclass
class _Terminal:
    info: TerminalInfo
    output: bytes = b""


class WorkspacesPart(NodeCore):
    def __init__(self, state: AppState, node: Node) -> None:
        super().__init__(state, node)
        self.terminals: dict[str, _Terminal] = {}
        self.stream_input: dict[int, bytes] = {}
        """What viewers typed, by stream."""
        self.stream_credit: dict[int, int] = {}
        """How many bytes the control plane lets the node send on each stream now: the attach's
        window, plus its grants, less what `flood` sent."""
        self.runtimes: list[RuntimeInfo] = [RuntimeInfo(name="host")]
        """The runtimes it has (and reports in its heartbeats), its default first."""
        self.rebuildable = {"devcontainer"}
        """The runtimes whose workspaces it rebuilds; others are refused, as `host` is."""
        self.specs: dict[str, WorkspaceSpec] = {}
        """What each workspace was made with: its runtime and limits among it."""

    def _workspace_handlers(self) -> dict[str, Handler]:
        return {
            "workspace.create": self._workspace_create,
            "workspace.start": self._workspace_start,
            "workspace.stop": self._workspace_stop,
            "workspace.delete": self._workspace_delete,
            "workspace.rebuild": self._workspace_rebuild,
            "workspace.list": self._workspace_list,
            "terminal.create": self._terminal_create,
            "terminal.list": self._terminal_list,
            "terminal.delete": self._terminal_delete,
            "terminal.attach": self._terminal_attach,
            "terminal.resize": self._terminal_resize,
        }

    def _set_workspace(self, workspace_id: str, state: WorkspaceState) -> WorkspaceStatus:
        status = WorkspaceStatus(id=workspace_id, state=state)
        self.workspaces[workspace_id] = status
        return status

    async def _workspace_create(self, spec: WorkspaceSpec) -> WorkspaceStatus:
        if all(runtime.name != spec.runtime for runtime in self.runtimes):
            raise InvalidInput(f"this node has no runtime {spec.runtime!r}")
        self.specs[spec.id] = spec
        if spec.id in self.workspaces:
            # A repeated request, or one a test's `report` overtook: it is known already.
            return self.workspaces[spec.id]
        return self._set_workspace(spec.id, WorkspaceState.CREATING)

    async def _workspace_rebuild(self, request: WorkspaceRebuild) -> WorkspaceStatus:
        self._workspace(request.id)
        runtime = self.specs[request.id].runtime
        if runtime not in self.rebuildable:
            raise Conflict(
                f"the {runtime} runtime cannot rebuild a workspace: it has no container",
                reason="cannot_rebuild",
            )
        return self._set_workspace(request.id, WorkspaceState.REBUILDING)

    async def _workspace_start(self, ref: WorkspaceRef) -> WorkspaceStatus:
        self._workspace(ref.id)
        return self._set_workspace(ref.id, WorkspaceState.RUNNING)

    async def _workspace_stop(self, ref: WorkspaceRef) -> WorkspaceStatus:
        self._workspace(ref.id)
        self._close_workspace(ref.id)
        return self._set_workspace(ref.id, WorkspaceState.STOPPED)

    async def _workspace_delete(self, ref: WorkspaceRef) -> WorkspaceStatus:
        self._close_workspace(ref.id)
        self.workspaces.pop(ref.id, None)
        return WorkspaceStatus(id=ref.id, state=WorkspaceState.DELETED)

    async def _workspace_list(self, _: Empty) -> WorkspaceList:
        return WorkspaceList(workspaces=list(self.workspaces.values()))

    # terminals

    def _terminal(self, workspace_id: str, terminal_id: str) -> _Terminal:
        terminal = self.terminals.get(terminal_id)
        if terminal is None or terminal.info.workspace_id != workspace_id:
            raise NotFound(f"no terminal {terminal_id} in workspace {workspace_id}")
        return terminal

    async def _terminal_create(self, request: TerminalCreate) -> TerminalInfo:
        self._workspace(request.workspace_id)
        info = TerminalInfo(
            id=new_id("trm"),
            workspace_id=request.workspace_id,
            cols=request.cols,
            rows=request.rows,
            created_at=datetime.now(UTC),
            last_attached_at=None,
            exited=False,
            viewers=0,
        )
        self.terminals[info.id] = _Terminal(info, output=b"$ ")
        return info

    async def _terminal_list(self, query: TerminalQuery) -> TerminalList:
        return TerminalList(
            terminals=[
                t.info
                for t in self.terminals.values()
                if query.workspace_id in (None, t.info.workspace_id)
            ]
        )

    async def _terminal_delete(self, ref: TerminalRef) -> Empty:
        self._terminal(ref.workspace_id, ref.terminal_id)
        del self.terminals[ref.terminal_id]
        return Empty()

    async def _terminal_attach(self, request: TerminalAttach) -> TerminalAttached:
        terminal = self._terminal(request.workspace_id, request.terminal_id)
        offset = min(request.offset or 0, len(terminal.output))
        assert self.peer is not None
        self.stream_credit[request.stream] = request.window_bytes - len(terminal.output[offset:])
        # The bytes follow the answer on the stream (sent after it: the pipe keeps the order).
        self._spawn(self.peer.send_stream(request.stream, terminal.output[offset:]))
        return TerminalAttached(terminal=terminal.info, offset=offset)

    async def flood(self, stream: int) -> int:
        """Send as much output on `stream` as its credit allows, as a busy program would; return
        how much that was."""
        assert self.peer is not None
        size = max(0, self.stream_credit.get(stream, 0))
        self.stream_credit[stream] -= size
        await self.peer.send_stream(stream, b"y" * size)
        return size

    async def _terminal_resize(self, request: TerminalResize) -> Empty:
        terminal = self._terminal(request.workspace_id, request.terminal_id)
        terminal.info = terminal.info.model_copy(
            update={"cols": request.cols, "rows": request.rows}
        )
        return Empty()

    # streams (the node side of terminal viewers)

    async def on_data(self, stream: int, data: bytes) -> None:
        self.stream_input[stream] = self.stream_input.get(stream, b"") + data

    async def on_window(self, stream: int, granted: int) -> None:
        if stream in self.stream_credit:
            self.stream_credit[stream] += granted

    async def on_close(self, stream: int, reason: str) -> None:
        return None
