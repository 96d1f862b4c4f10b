"""The idle policy in the CLI: `--idle-timeout` as people write it, and a workspace's deadline
as `corral workspace show` prints it."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from corral.cli.output import CliError

__all__ = ["ProjectIdleTimeout", "WorkspaceIdleTimeout", "describe_idle", "parse_idle_timeout"]


def _option(what: str, default: str) -> Any:
    return typer.Option(
        "--idle-timeout",
        metavar="DURATION",
        help=f"Stop {what} when idle this long: minutes (45, 45m), hours (2h, 1h30m), `never`, "
        f"or `default` ({default}).",
    )


ProjectIdleTimeout = Annotated[str | None, _option("its workspaces", "the control plane's")]
WorkspaceIdleTimeout = Annotated[str | None, _option("the workspace", "its project's")]

_DURATION = re.compile(r"^(?:(?P<hours>\d+)\s*h)?\s*(?:(?P<minutes>\d+)\s*(?:m|min)?)?$")


def parse_idle_timeout(text: str, option: str = "--idle-timeout") -> int | None:
    """Minutes (0 for `never`), or None for `default`."""
    value = text.strip().lower()
    if value == "never":
        return 0
    if value == "default":
        return None
    match = _DURATION.match(value)
    if not value or match is None or not any(match.groups()):
        raise CliError(
            f"{option} takes minutes (45, 45m), hours (2h, 1h30m), `never` or `default`, "
            f"not {text!r}"
        )
    return int(match["hours"] or 0) * 60 + int(match["minutes"] or 0)


def _minutes(minutes: float) -> str:
    """`12 min`, or `under a minute`: a countdown or a timeout, to the minute."""
    return f"{round(minutes)} min" if minutes >= 1 else "under a minute"


_SOURCES = {"workspace": "its own", "project": "its project's", "default": "the default"}
_HOLDS = {
    "agent_working": "kept running while an agent works",
    "permission_waiting": "kept running while a permission request waits",
}


def describe_idle(ws: dict[str, Any], now: datetime | None = None) -> str:
    """`stops at 14:05 (in 12 min) when idle, after 30 min idle (its project's setting)`, or
    why it is kept running."""
    minutes = ws.get("idle_timeout_minutes")
    source = _SOURCES.get(ws.get("idle_timeout_source", ""), "")
    if minutes is None:
        return f"kept running: never stopped when idle ({source} setting)"
    policy = f"after {_minutes(minutes)} idle ({source} setting)"
    if ws.get("state") != "running":
        return f"stops {policy}"
    stop_at = ws.get("idle_stop_at")
    if stop_at is None:
        return f"{_HOLDS.get(ws.get('idle_hold') or '', 'kept running')}; then stops {policy}"
    at = datetime.fromisoformat(stop_at)
    left = max((at - (now or datetime.now(UTC))).total_seconds(), 0) / 60
    local = at.astimezone().strftime("%H:%M")
    return f"stops at {local} (in {_minutes(left)}) when idle, {policy}"
