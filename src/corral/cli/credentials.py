"""`corral credentials`: store, list and remove secrets; values are read, never shown."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from corral.cli.account import JsonFlag
from corral.cli.client import open_client, segment
from corral.cli.output import CliError, console, print_json, print_table, when

app = typer.Typer(
    help="Encrypted credentials (API keys, cloud tokens, SSH keys).", no_args_is_help=True
)

KINDS = ("anthropic", "openai", "gemini", "hetzner", "github", "ssh-key", "env")


@app.command("set")
def set_credential(
    kind: Annotated[str, typer.Argument(help=f"One of: {', '.join(KINDS)}.")],
    name: Annotated[
        str | None,
        typer.Option(
            help="Name to store it under (default: the kind; for `env`, the variable's name)."
        ),
    ] = None,
) -> None:
    """Store a credential, replacing one of the same name. The value is read from a hidden
    prompt, or from stdin when piped (never from the command line, where `ps` would show it)."""
    if kind not in KINDS:
        raise CliError(f"unknown credential kind {kind!r}; use one of: {', '.join(KINDS)}")
    if kind == "env" and not name:
        raise CliError("an env credential needs --name, the environment variable to set")
    name = name or kind
    value = _read_value(kind)
    with open_client() as client:
        row = client.put(f"/credentials/{segment(name)}", {"kind": kind, "value": value})
    console.print(f"Stored {row['name']} ({row['kind']}, ends with …{row['last4']}).")


def _read_value(kind: str) -> str:
    if sys.stdin.isatty():
        value = str(typer.prompt(f"{kind} value", hide_input=True))
    else:
        value = sys.stdin.read()
    if not value.strip():
        raise CliError("no value given (type it at the prompt or pipe it on stdin)")
    return value


@app.command("list")
def list_credentials(as_json: JsonFlag = False) -> None:
    """List your credentials: names, kinds and last four characters only."""
    with open_client() as client:
        rows = sorted(client.get_all("/credentials"), key=lambda c: c["name"])
    if as_json:
        print_json(rows)
        return
    print_table(
        rows,
        [
            ("NAME", lambda c: c["name"]),
            ("KIND", lambda c: c["kind"]),
            ("ENDS WITH", lambda c: "…" + c["last4"]),
            ("CREATED", lambda c: when(c["created_at"])),
            ("LAST USED", lambda c: when(c["last_used_at"])),
        ],
        empty="No credentials. Add one with `corral credentials set anthropic`.",
    )


@app.command("rm")
def remove_credential(name: Annotated[str, typer.Argument(help="The credential's name.")]) -> None:
    """Delete a credential."""
    with open_client() as client:
        client.delete(f"/credentials/{segment(name)}")
    console.print(f"Deleted credential {name}.")
