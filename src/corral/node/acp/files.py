"""An agent's file access: ACP's `fs/*` requests and the files a prompt attaches, confined to
its workspace.

Every path comes from the agent or a user and is opened through `WorkspaceFiles` (see
`corral.node.workspacefiles`), beneath the workspace's checkout and HOME, so that no path or
link leads out of them. Refusals go back to the agent as JSON-RPC errors in its own terms.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from corral.errors import CorralError, NotFound
from corral.node.acp.requests import ReadTextFileRequest, WriteTextFileRequest
from corral.node.acp.rpc import INVALID_PARAMS, RESOURCE_NOT_FOUND, RpcError, validated
from corral.node.workspacefiles import WorkspaceFiles

__all__ = ["AgentFiles"]


class AgentFiles:
    """`missing_reads_empty`: a read of a missing file answers empty text, not an error (for
    agents that do not understand the error; see `Quirk.MISSING_FILE_READS_EMPTY`)."""

    METHODS = frozenset({"fs/read_text_file", "fs/write_text_file"})

    def __init__(self, files: WorkspaceFiles, *, repo: Path, missing_reads_empty: bool) -> None:
        self._files = files
        self._repo = repo
        self._missing_reads_empty = missing_reads_empty

    async def handle(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """Serve one of `METHODS`."""
        if method == "fs/read_text_file":
            return {"content": await self._read(params)}
        await self._write(params)
        return {}

    def make_dirs(self, path: str) -> None:
        self._files.make_dirs(path)

    def resource_link(self, resource: str) -> dict[str, Any]:
        """An ACP resource link to a file of the workspace that a prompt attaches (a path
        relative to the checkout, or absolute)."""
        path = Path(resource if resource.startswith("/") else self._repo / resource)
        try:
            found = self._files.exists(str(path))
        except CorralError as exc:
            raise RpcError(INVALID_PARAMS, exc.message) from None
        if not found:
            raise RpcError(RESOURCE_NOT_FOUND, f"{resource} does not exist")
        return {"type": "resource_link", "uri": path.as_uri(), "name": path.name}

    async def _read(self, params: dict[str, Any]) -> str:
        request = validated(ReadTextFileRequest, params, "read")
        try:
            return await asyncio.to_thread(
                self._files.read_text, request.path, line=request.line, limit=request.limit
            )
        except NotFound:
            if self._missing_reads_empty:
                return ""
            raise RpcError(RESOURCE_NOT_FOUND, f"{request.path} does not exist") from None
        except CorralError as exc:
            raise RpcError(INVALID_PARAMS, exc.message) from None

    async def _write(self, params: dict[str, Any]) -> None:
        request = validated(WriteTextFileRequest, params, "write")
        try:
            await asyncio.to_thread(self._files.write_text, request.path, request.content)
        except NotFound as exc:
            raise RpcError(RESOURCE_NOT_FOUND, exc.message) from None
        except CorralError as exc:
            raise RpcError(INVALID_PARAMS, exc.message) from None
