"""The recent provisioning log of each workspace (git clone progress), kept in memory.

A log is only interesting while a workspace is being made; after a restart the workspace's
state and reason say how it ended, so there is no need to store every line. The node sends
its lines to the replica that holds its link; they go through the broker, so every replica
keeps the same log and a browser on any of them reads it.
"""

from __future__ import annotations

import contextlib
import logging
from collections import deque
from typing import Any

from corral.control.live.broker import Broker

__all__ = ["ProvisioningLogs"]

log = logging.getLogger("corral.nodelink")

CHANNEL = "provisioning-logs"
MAX_LINES_PER_WORKSPACE = 200
MAX_LINE_CHARS = 500
MAX_WORKSPACES = 200  # at most 20 MB in all, whatever a node sends


class ProvisioningLogs:
    def __init__(self, broker: Broker) -> None:
        self._logs: dict[tuple[str, str], deque[str]] = {}
        self._broker = broker
        self._listening = contextlib.ExitStack()
        self._listening.enter_context(broker.listen(CHANNEL, self._on_message))

    def append(self, node_id: str, workspace_id: str, line: str) -> None:
        self._broker.publish(CHANNEL, [node_id, workspace_id, line[:MAX_LINE_CHARS]])

    def lines(self, node_id: str, workspace_id: str) -> list[str]:
        """The lines a node reported for a workspace; keyed by node so one node cannot write
        into the log of another node's workspace."""
        return list(self._logs.get((node_id, workspace_id), ()))

    def clear(self, node_id: str, workspace_id: str) -> None:
        """Forget a workspace's lines, as the node starts on it again (a rebuild)."""
        self._broker.publish(CHANNEL, [node_id, workspace_id, None])

    def _on_message(self, message: Any) -> None:
        match message:
            case [str(node_id), str(workspace_id), str(line)]:
                self._append(node_id, workspace_id, line[:MAX_LINE_CHARS])
            case [str(node_id), str(workspace_id), None]:
                self._logs.pop((node_id, workspace_id), None)
            case _:
                log.warning("dropped a malformed provisioning log message")

    def _append(self, node_id: str, workspace_id: str, line: str) -> None:
        key = (node_id, workspace_id)
        if key not in self._logs and len(self._logs) >= MAX_WORKSPACES:
            self._logs.pop(next(iter(self._logs)))
        self._logs.setdefault(key, deque(maxlen=MAX_LINES_PER_WORKSPACE)).append(line)
