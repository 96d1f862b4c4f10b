"""Runtimes and limits on the command line: the options that set them, and how they are shown."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from corral.cli.output import CliError
from corral.sizes import format_bytes, format_cpus, parse_bytes

__all__ = [
    "CpusOption",
    "MemoryOption",
    "PidsOption",
    "RuntimeOption",
    "describe_limits",
    "limit_fields",
]

DEFAULT = "default"

RuntimeOption = Annotated[
    str | None,
    typer.Option(
        help="`auto` (devcontainer where the node has Docker, else host), `host` or `devcontainer`."
    ),
]
CpusOption = Annotated[
    str | None,
    typer.Option(help="CPUs each workspace may use, e.g. 2 or 1.5; `default`: the node's."),
]
MemoryOption = Annotated[
    str | None,
    typer.Option(help="Memory each workspace may use, e.g. 512m, 2g; `default`: the node's."),
]
PidsOption = Annotated[
    str | None,
    typer.Option(help="Processes and threads each workspace may run; `default`: the node's."),
]


def _number(option: str, text: str, parse: Any, example: str) -> Any:
    if text.strip().lower() == DEFAULT:
        return None
    try:
        return parse(text)
    except ValueError:
        raise CliError(f"{option} {text!r}: write it like {example}, or `default`") from None


def limit_fields(cpus: str | None, memory: str | None, pids: str | None) -> dict[str, Any]:
    """The limit options given, as the API's fields (`default` is null: the node's default)."""
    fields: dict[str, Any] = {}
    if cpus is not None:
        fields["cpus"] = _number("--cpus", cpus, float, "2 or 1.5")
    if memory is not None:
        fields["memory_bytes"] = _number("--memory", memory, parse_bytes, "512m, 2g or 1.5GiB")
    if pids is not None:
        fields["pids"] = _number("--pids", pids, int, "512")
    return fields


def describe_limits(limits: dict[str, Any], unset: str = "the node's defaults") -> str:
    """`2 CPUs, 4 GiB of memory, 512 processes`, or `unset` when none is set."""
    parts = []
    if limits.get("cpus") is not None:
        parts.append(format_cpus(limits["cpus"]))
    if limits.get("memory_bytes") is not None:
        parts.append(f"{format_bytes(limits['memory_bytes'])} of memory")
    if limits.get("pids") is not None:
        parts.append(f"{limits['pids']} processes")
    return ", ".join(parts) or unset
