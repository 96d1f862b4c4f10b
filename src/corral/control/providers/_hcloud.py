"""Where `hcloud` meets Corral: its errors made ProviderErrors that say whether trying again may
help, its models made Corral's, and the two things hcloud offers no setting for (one attempt
per request, closing its HTTP sessions). Used by `hetzner.py`; everything here runs in the
worker thread that made the hcloud call.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import requests
from hcloud import APIException, Client
from hcloud.firewalls import FirewallRule
from hcloud.server_types import BoundServerType
from hcloud.servers import BoundServer

from corral.control.providers.base import Machine, MachineType, ProviderError

__all__ = [
    "api_error",
    "close",
    "machine",
    "machine_type",
    "missing_is_none",
    "one_attempt",
    "opens_ssh",
    "places",
]

T = TypeVar("T")

# Hetzner's error codes for which a later attempt may succeed: limits that refill, servers
# that are busy or briefly out of capacity, the API itself failing.
_RETRYABLE_CODES = frozenset(
    {
        "rate_limit_exceeded",
        "conflict",
        "locked",
        "resource_in_use",
        "resource_unavailable",
        "placement_error",
        "server_error",
        "service_error",
        "unavailable",
        "maintenance",
        "timeout",
        "bad_gateway",
    }
)
# (codes, retryable, reason, message): the first row naming the code wins; `{doing}` is what
# Corral was doing, `{said}` Hetzner's message and `{code}` its code.
_ERRORS: list[tuple[frozenset[str | int], bool, str, str]] = [
    (
        frozenset({"unauthorized", 401}),
        False,
        "provider_unauthorized",
        "Hetzner refused the API token (unauthorized): check the Hetzner credential, or make a "
        "new token in the Hetzner Cloud console",
    ),
    (
        frozenset({"forbidden", "token_readonly", 403}),
        False,
        "provider_forbidden",
        "Hetzner refused {doing} with this API token ({said}): the token needs Read & Write "
        "permission",
    ),
    (
        frozenset({"rate_limit_exceeded", 429}),
        True,
        "provider_rate_limited",
        "Hetzner's API rate limit was reached while {doing}; Corral tries again later",
    ),
    (
        frozenset({"uniqueness_error"}),
        False,
        "provider_name_taken",
        "Hetzner refused {doing}: {said}",
    ),
    (
        frozenset({"resource_limit_exceeded"}),
        False,
        "provider_limit",
        "the Hetzner project has reached a limit ({said}): raise it in the Hetzner Cloud "
        "console, or remove servers",
    ),
    (
        _RETRYABLE_CODES | frozenset(range(500, 600)),
        True,
        "provider_unavailable",
        "Hetzner's API failed while {doing}: {said} ({code})",
    ),
]

_REFUSED = (
    frozenset[str | int](),
    False,
    "provider_invalid_request",
    "Hetzner refused {doing}: {said} ({code})",
)
"""Any other error: what was asked is wrong, and asking again will not help."""


def api_error(exc: APIException, doing: str, scrub: Callable[[str], str]) -> ProviderError:
    """The ProviderError for an error Hetzner answered; `scrub` removes the token, which
    Hetzner never echoes, from its message all the same."""
    _, retryable, reason, message = next((row for row in _ERRORS if exc.code in row[0]), _REFUSED)
    text = message.format(doing=doing, said=scrub(str(exc.message)), code=exc.code)
    return ProviderError(text, retryable=retryable, reason=reason)


def one_attempt(client: Client) -> None:
    """Turn off hcloud's own retries (see hetzner.py's docstring). hcloud has no setting for
    it; if a later version renames the attribute, its retries simply stay on."""
    for base in _bases(client):
        if hasattr(base, "_retry_max_retries"):
            base._retry_max_retries = 0


def close(client: Client) -> None:
    """Close hcloud's HTTP sessions (it has no close of its own)."""
    for base in _bases(client):
        session = getattr(base, "_session", None)
        if isinstance(session, requests.Session):
            session.close()


def _bases(client: Client) -> list[Any]:
    """hcloud's request makers: one for the Cloud API, one for the newer Hetzner API."""
    names = ("_client", "_client_hetzner")
    return [base for name in names if (base := getattr(client, name, None)) is not None]


def missing_is_none(call: Callable[[], T]) -> T | None:
    try:
        return call()
    except APIException as exc:
        if exc.code in ("not_found", 404):
            return None
        raise


def opens_ssh(rules: list[FirewallRule]) -> bool:
    return any(rule.direction == "in" and rule.port == "22" for rule in rules)


def machine(server: BoundServer) -> Machine:
    public = server.public_net
    ipv4 = public.ipv4.ip if public is not None and public.ipv4 is not None else None
    firewalls = [f.firewall.id for f in (public.firewalls or [])] if public is not None else []
    server_id = int(cast(int, server.id))
    return Machine(
        id=str(server_id),
        name=str(server.name),
        status=str(server.status),
        created_at=server.created,
        labels=dict(server.labels or {}),
        handle={"server_id": server_id, "firewall_id": firewalls[0] if firewalls else None},
        public_ipv4=ipv4,
    )


def places(server_type: BoundServerType) -> dict[str, tuple[bool, bool]] | None:
    """Where the type is offered: location name → (available now, deprecated there); None
    when Hetzner does not say (an API older than per-location server types)."""
    if server_type.locations is None:
        return None
    return {
        str(place.location.name): (place.available is not False, place.deprecation is not None)
        for place in server_type.locations
    }


def machine_type(server_type: BoundServerType, currency: str) -> MachineType | None:
    """The type as Corral shows it, priced where it can be made now; None if nowhere."""
    offered = places(server_type)
    prices = {
        str(price["location"]): float(price["price_hourly"]["gross"])
        for price in server_type.prices or []
        if offered is None or offered.get(str(price["location"]), (False, True)) == (True, False)
    }
    if not prices:
        return None
    return MachineType(
        name=str(server_type.name),
        cpus=float(server_type.cores or 0),
        memory_bytes=int(float(server_type.memory or 0) * 2**30),
        # Hetzner's disk sizes are decimal gigabytes.
        disk_bytes=int(server_type.disk or 0) * 10**9,
        hourly_price=min(prices.values()),
        currency=currency,
        regions=tuple(sorted(prices)),
        prices=prices,
        description=str(server_type.description or ""),
        architecture=str(server_type.architecture or "x86"),
    )
