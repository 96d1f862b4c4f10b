"""`corral provider`: the providers that make nodes, and the sizes and prices one offers."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from corral.cli.account import JsonFlag
from corral.cli.client import open_client, segment
from corral.cli.output import print_json, print_table
from corral.sizes import format_bytes, format_cpus

app = typer.Typer(help="Providers: what makes the machines nodes run on.", no_args_is_help=True)

KIND_TEXT = {
    "manual": "you run `corral node run` on the machine",
    "local": "the node `corral up` runs beside the control plane",
    "machine": "installs onto a server you have",
    "cloud": "makes machines in your cloud account (costs money)",
}


@app.command("list")
def list_providers(as_json: JsonFlag = False) -> None:
    """List the providers this Corral offers."""
    with open_client() as client:
        found = client.get("/providers")
    if as_json:
        print_json(found)
        return
    print_table(
        found,
        [
            ("NAME", lambda p: p["name"]),
            ("KIND", lambda p: p["kind"]),
            ("CREDENTIAL", lambda p: p["credential_kind"] or "-"),
            ("WHAT IT DOES", lambda p: KIND_TEXT.get(p["kind"], "")),
        ],
        empty="No providers are enabled.",
    )


def price(value: float, currency: str) -> str:
    return f"{value:.4f} {currency}/h"


@app.command("sizes")
def sizes(
    provider: Annotated[str, typer.Argument(help="A cloud provider, e.g. `hetzner`.")],
    credential: Annotated[
        str | None, typer.Option(help="Your credential for it (default: your only one).")
    ] = None,
    region: Annotated[str | None, typer.Option(help="Only sizes offered in this region.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List the sizes a cloud provider offers, with prices, and its regions."""
    with open_client() as client:
        offer = client.get(f"/providers/{segment(provider)}/offer", credential=credential)
    if as_json:
        print_json(offer)
        return
    types: list[dict[str, Any]] = offer["machine_types"]
    if region is not None:
        types = [t for t in types if not t["regions"] or region in t["regions"]]

    def cost(t: dict[str, Any]) -> str:
        hourly = t["prices"].get(region, t["hourly_price"]) if region else t["hourly_price"]
        return price(hourly, t["currency"])

    print_table(
        types,
        [
            ("SIZE", lambda t: t["name"]),
            ("CPUS", lambda t: format_cpus(t["cpus"])),
            ("MEMORY", lambda t: format_bytes(t["memory_bytes"])),
            ("DISK", lambda t: format_bytes(t["disk_bytes"])),
            ("ARCH", lambda t: t["architecture"]),
            ("PRICE", cost),
            ("REGIONS", lambda t: ", ".join(t["regions"]) or "all"),
        ],
        empty="No sizes offered.",
    )
    regions = ", ".join(f"{r['name']} ({r['description']})" for r in offer["regions"])
    print(f"Regions: {regions or 'none'}")
