"""`corral users`: list users, and invite new ones and revoke their invites (owner only)."""

from __future__ import annotations

from typing import Annotated

import typer

from corral.cli.account import JsonFlag
from corral.cli.client import open_client, segment
from corral.cli.output import CliError, console, print_json, print_table, when
from corral.control.services.names import ID_PATTERN

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


@app.command("invites")
def list_invites(as_json: JsonFlag = False) -> None:
    """List the invites that can still be accepted (not used, revoked or expired)."""
    with open_client() as client:
        invites = client.get_all("/users/invites")
    if as_json:
        print_json(invites)
        return
    print_table(
        invites,
        [
            ("NAME", lambda i: i["user"]["name"]),
            ("ID", lambda i: i["id"]),
            ("CREATED", lambda i: when(i["created_at"])),
            ("EXPIRES", lambda i: when(i["expires_at"])),
        ],
        empty="No pending invites.",
    )


@app.command("revoke-invite")
def revoke_invite(
    invite: Annotated[
        str, typer.Argument(help="The invite's id, or the name of the user it invites.")
    ],
) -> None:
    """Revoke a pending invite: its link no longer signs anyone in."""
    with open_client() as client:
        invite_id = invite
        if not ID_PATTERN.match(invite):
            pending = [i for i in client.get_all("/users/invites") if i["user"]["name"] == invite]
            if not pending:
                raise CliError(f"no pending invite for {invite!r}; see `corral users invites`")
            invite_id = pending[0]["id"]
        revoked = client.delete(f"/users/invites/{segment(invite_id)}")
    console.print(f"Revoked the invite for {revoked['user']['name']} ({revoked['id']}).")
