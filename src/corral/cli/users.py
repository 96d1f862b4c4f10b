"""`corral users`: list users and invite new ones (owner only)."""

from __future__ import annotations

from typing import Annotated

import typer

from corral.cli.account import JsonFlag
from corral.cli.client import open_client
from corral.cli.output import console, print_json, print_table, when

app = typer.Typer(help="Users and invites (owner only).", no_args_is_help=True)


@app.command("list")
def list_users(as_json: JsonFlag = False) -> None:
    """List every user."""
    with open_client() as client:
        users = client.get_all("/users")
    if as_json:
        print_json(users)
        return
    print_table(
        users,
        [
            ("NAME", lambda u: u["name"]),
            ("ROLE", lambda u: u["role"]),
            ("STATE", lambda u: u["state"]),
            ("ID", lambda u: u["id"]),
            ("CREATED", lambda u: when(u["created_at"])),
        ],
        empty="No users.",
    )


@app.command("invite")
def invite(
    name: Annotated[str, typer.Argument(help="User name for the new account.")],
    as_json: JsonFlag = False,
) -> None:
    """Invite a user: prints a single-use link to give them."""
    with open_client() as client:
        result = client.post("/users/invites", {"name": name})
    if as_json:
        print_json(result)
        return
    console.print(
        f"Invited {name}. Send them this single-use link "
        f"(valid until {when(result['expires_at'])} UTC):"
    )
    print(result["invite_url"])
