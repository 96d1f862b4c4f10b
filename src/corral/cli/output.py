"""How the CLI talks to people: Rich tables and messages, JSON for scripts, one-line errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Sequence
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

__all__ = [
    "CliError",
    "console",
    "err_console",
    "print_error",
    "print_json",
    "print_table",
    "when",
]

PIPED_WIDTH = 1000

# soft_wrap: long links and messages stay on one line, so they can be copied and grepped.
# markup off: names and messages from users and the server are printed as they are, never
# parsed as Rich markup (a name like "[/x]" would otherwise crash the CLI).
# Piped output is as wide as it needs: a table squeezed to 80 columns would cut ids short.
console = Console(
    highlight=False,
    soft_wrap=True,
    markup=False,
    width=None if sys.stdout.isatty() else PIPED_WIDTH,
)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False)


def print_error(message: str) -> None:
    err_console.print(Text.assemble(("error:", "bold red"), " ", message))


class CliError(Exception):
    """A failure to report as one line on stderr, with a non-zero exit code."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def print_json(data: Any) -> None:
    # Plain print: Rich would wrap long lines and break the JSON for `jq`.
    print(json.dumps(data, indent=2, sort_keys=False))


def when(value: str | None) -> str:
    """A timestamp from the API, shortened for a table cell."""
    if not value:
        return "-"
    return value.replace("T", " ")[:19]


def print_table(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[tuple[str, Callable[[dict[str, Any]], str]]],
    *,
    empty: str,
) -> None:
    if not rows:
        console.print(empty)
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    for title, _ in columns:
        # Ids must stay whole to be copied; other columns give way first.
        table.add_column(title, no_wrap=title == "ID", min_width=30 if title == "ID" else None)
    for row in rows:
        table.add_row(*(Text(cell(row)) for _, cell in columns))
    console.print(table)
