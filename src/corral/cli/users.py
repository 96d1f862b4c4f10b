"""`corral users` (owner only): list users, invite new ones and revoke their invites, and
disable and enable members."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

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


def _print_sessions(sessions: list[dict[str, Any]], empty: str) -> None:
    columns: list[tuple[str, Callable[[dict[str, Any]], str]]] = [
        ("ID", lambda s: s["id"]),
        ("AGENT", lambda s: s["agent"]),
        ("STATE", lambda s: s["state"]),
        ("WORKSPACE", lambda s: s["workspace"] or "-"),
        ("NODE", lambda s: s["node"] or "-"),
        ("STARTED", lambda s: when(s["created_at"])),
    ]
    if any(s.get("stop_error") for s in sessions):
        columns.append(("NOT STOPPED", lambda s: s.get("stop_error") or ""))
    print_table(sessions, columns, empty=empty)


@app.command("show")
def show(
    user: Annotated[str, typer.Argument(help="Name or id.")], as_json: JsonFlag = False
) -> None:
    """Show a user and their live agent sessions (where they run, not what they say)."""
    with open_client() as client:
        found = client.get(f"/users/{segment(user)}")
    if as_json:
        print_json(found)
        return
    console.print(f"{found['name']}  {found['id']}  {found['role']}  {found['state']}")
    _print_sessions(found["sessions"], "No live agent sessions.")


@app.command("disable")
def disable(
    user: Annotated[str, typer.Argument(help="Name or id.")], as_json: JsonFlag = False
) -> None:
    """Disable a member: their tokens, browser sessions and open connections stop working at
    once, and their agent sessions are stopped. Run it again to retry stopping any left."""
    with open_client() as client:
        found = client.post(f"/users/{segment(user)}/disable")
    if as_json:
        print_json(found)
        return
    console.print(
        f"Disabled {found['name']}: their API tokens, browser sessions and open connections "
        "no longer work."
    )
    if found["sessions"]:
        console.print("Their agent sessions, stopped unless NOT STOPPED says why:")
    _print_sessions(found["sessions"], "They had no live agent sessions.")


@app.command("enable")
def enable(
    user: Annotated[str, typer.Argument(help="Name or id.")], as_json: JsonFlag = False
) -> None:
    """Enable a disabled member: the API tokens and browser sessions they had work again."""
    with open_client() as client:
        found = client.post(f"/users/{segment(user)}/enable")
    if as_json:
        print_json(found)
        return
    console.print(
        f"Enabled {found['name']}: the API tokens and browser sessions they had work again."
    )
