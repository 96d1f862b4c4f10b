"""`corral tokens`: API tokens for the CLI and scripts."""

from __future__ import annotations

from typing import Annotated

import typer

from corral.cli.account import JsonFlag
from corral.cli.client import open_client, segment
from corral.cli.output import console, print_json, print_table, when

app = typer.Typer(help="API tokens for the CLI and scripts.", no_args_is_help=True)


@app.command("list")
def list_tokens(as_json: JsonFlag = False) -> None:
    """List your API tokens (never their values)."""
    with open_client() as client:
        tokens = client.get_all("/tokens")
    if as_json:
        print_json(tokens)
        return
    print_table(
        tokens,
        [
            ("ID", lambda t: t["id"]),
            ("NAME", lambda t: t["name"]),
            ("ENDS WITH", lambda t: "…" + t["last4"]),
            ("CREATED", lambda t: when(t["created_at"])),
            ("LAST USED", lambda t: when(t["last_used_at"])),
            ("STATE", lambda t: "revoked" if t["revoked_at"] else "active"),
        ],
        empty="No API tokens.",
    )


@app.command("create")
def create_token(
    name: Annotated[str, typer.Argument(help="What the token is for.")],
    as_json: JsonFlag = False,
) -> None:
    """Make an API token; its value is shown this once."""
    with open_client() as client:
        token = client.post("/tokens", {"name": name})
    if as_json:
        print_json(token)
        return
    console.print(f"Token {token['name']} ({token['id']}); copy it now, it is not shown again:")
    print(token["token"])


@app.command("revoke")
def revoke_token(token_id: Annotated[str, typer.Argument(help="The token's id.")]) -> None:
    """Revoke an API token; requests made with it fail from now on."""
    with open_client() as client:
        token = client.delete(f"/tokens/{segment(token_id)}")
    console.print(f"Revoked token {token['name']} ({token['id']}).")
