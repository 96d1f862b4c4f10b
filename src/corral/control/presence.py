"""Who is at a workspace, as this control plane process sees it: the viewers attached to its
terminals and chats, and when someone last typed into one of its terminals.

Typing is noted in memory (a dictionary write per input frame), and `take` hands what is new to
the idle reconciler, which writes it to `workspaces.last_active_at` at most once per workspace
per `idle.activity_write_interval_seconds`. A workspace with a viewer attached is taken as active
at every `take`, so another control plane process sharing the database, which cannot see this
one's sockets, sees it active too. This process's own idle decision also asks `viewers` directly.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from corral.control.db.base import utcnow

__all__ = ["Presence"]


class Presence:
    def __init__(self) -> None:
        self._viewers: dict[str, int] = {}
        self._typed: dict[str, datetime] = {}
        """The latest activity of each workspace not yet taken for writing."""

    def touch(self, workspace_id: str) -> None:
        """Someone used the workspace just now (typed into a terminal, left a viewer)."""
        self._typed[workspace_id] = utcnow()

    @contextmanager
    def watching(self, workspace_id: str) -> Iterator[None]:
        """A viewer attached to one of the workspace's terminals or chats, for the block."""
        self._viewers[workspace_id] = self._viewers.get(workspace_id, 0) + 1
        try:
            yield
        finally:
            left = self._viewers[workspace_id] - 1
            if left:
                self._viewers[workspace_id] = left
            else:
                del self._viewers[workspace_id]
            self.touch(workspace_id)  # the idle time starts when the last viewer leaves

    def viewers(self, workspace_id: str) -> int:
        return self._viewers.get(workspace_id, 0)

    def latest(self, workspace_id: str) -> datetime | None:
        """The workspace's activity not yet written: now while a viewer is attached, else the
        last input typed since the last `take`."""
        if workspace_id in self._viewers:
            return utcnow()
        return self._typed.get(workspace_id)

    def take(self) -> dict[str, datetime]:
        """What to write: each workspace's activity since the last `take`, and now for each
        workspace with a viewer attached. `give_back` returns it if the write failed."""
        now = utcnow()
        taken, self._typed = self._typed, {}
        taken.update(dict.fromkeys(self._viewers, now))
        return taken

    def give_back(self, taken: dict[str, datetime]) -> None:
        for workspace_id, at in taken.items():
            current = self._typed.get(workspace_id)
            if current is None or current < at:
                self._typed[workspace_id] = at
