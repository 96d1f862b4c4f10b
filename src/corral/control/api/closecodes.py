"""Close codes of the viewers' WebSockets (terminals, session events, live updates): the one table
the control plane, the CLI and the web app (web/src/api/generated/closeCodes.ts) read."""

from __future__ import annotations

__all__ = [
    "CLOSE_CONFLICT",
    "CLOSE_INVALID",
    "CLOSE_MESSAGE_TOO_BIG",
    "CLOSE_NORMAL",
    "CLOSE_NOT_FOUND",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_TRY_AGAIN",
    "CLOSE_UNAUTHORIZED",
    "FINAL_CLOSE_CODES",
]

CLOSE_NORMAL = 1000  # the terminal exited or was deleted, or the viewer detached
CLOSE_INVALID = 1007  # a malformed control frame
CLOSE_POLICY_VIOLATION = 1008  # a bad query or path parameter; the reason names it
CLOSE_MESSAGE_TOO_BIG = 1009  # an input frame over 64 KiB
CLOSE_TRY_AGAIN = 1013  # the node is not reachable now; reconnect later
CLOSE_UNAUTHORIZED = 4401
CLOSE_NOT_FOUND = 4404
CLOSE_CONFLICT = 4409  # e.g. the workspace is not running

# After these, reconnecting cannot help.
FINAL_CLOSE_CODES = frozenset(
    {
        CLOSE_NORMAL,
        1003,
        CLOSE_INVALID,
        CLOSE_POLICY_VIOLATION,
        CLOSE_MESSAGE_TOO_BIG,
        CLOSE_UNAUTHORIZED,
        CLOSE_NOT_FOUND,
        CLOSE_CONFLICT,
    }
)
