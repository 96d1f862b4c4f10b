"""`corral activity`: what happened, newest first."""

from __future__ import annotations

from typing import Annotated

import typer

from corral.cli.account import JsonFlag
from corral.cli.client import open_client
from corral.cli.output import print_json, print_table, when


def activity(
    limit: Annotated[int, typer.Option(min=1, max=200, help="How many events.")] = 50,
    object_type: Annotated[
        str | None,
        typer.Option("--type", help="Only events about this kind of object, e.g. project."),
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Show the activity feed, newest first."""
    with open_client() as client:
        page = client.get("/activity", limit=limit, object_type=object_type)
    if as_json:
        print_json(page["items"])
        return
    print_table(
        page["items"],
        [
            ("WHEN", lambda e: when(e["created_at"])),
            ("ACTION", lambda e: e["action"]),
            ("OBJECT", lambda e: e["object_name"] or e["object_id"]),
            ("ID", lambda e: e["object_id"]),
        ],
        empty="No activity yet.",
    )
