"""What the fake Hetzner API (tests/support/hetzner_api.py) offers: locations, server types with
prices per location, and images, in the API's JSON shapes.

Made up, but shaped like Hetzner's: one type deprecated everywhere (`cx22`), one deprecated in
one location (`cpx31` in hel1), one out of stock in one location (`cax11` in hel1), and prices
that differ by location (the US ones cost more). Prices are strings, net and gross (19% VAT).
"""

from __future__ import annotations

from typing import Any

__all__ = ["CURRENCY", "IMAGES", "LOCATIONS", "SERVER_TYPES", "pricing"]

CURRENCY = "EUR"
_VAT = 1.19
_DEPRECATION = {
    "announced": "2025-01-01T00:00:00+00:00",
    "unavailable_after": "2025-04-01T00:00:00+00:00",
}

LOCATIONS: list[dict[str, Any]] = [
    {
        "id": number,
        "name": name,
        "description": description,
        "country": country,
        "city": city,
        "latitude": 0.0,
        "longitude": 0.0,
        "network_zone": zone,
    }
    for number, (name, description, country, city, zone) in enumerate(
        [
            ("fsn1", "Falkenstein DC Park 1", "DE", "Falkenstein", "eu-central"),
            ("nbg1", "Nuremberg DC Park 1", "DE", "Nuremberg", "eu-central"),
            ("hel1", "Helsinki DC Park 1", "FI", "Helsinki", "eu-central"),
            ("ash", "Ashburn, VA", "US", "Ashburn, VA", "us-east"),
        ],
        start=1,
    )
]
_LOCATION_IDS = {location["name"]: location["id"] for location in LOCATIONS}


def _server_type(
    number: int,
    name: str,
    cores: int,
    memory_gb: float,
    disk_gb: int,
    net_hourly: dict[str, float],
    *,
    architecture: str = "x86",
    cpu_type: str = "shared",
    deprecated_in: tuple[str, ...] = (),
    unavailable_in: tuple[str, ...] = (),
) -> dict[str, Any]:
    def price(net: float) -> dict[str, str]:
        return {"net": f"{net:.10f}", "gross": f"{net * _VAT:.10f}"}

    everywhere = set(deprecated_in) == set(net_hourly)
    return {
        "id": number,
        "name": name,
        "description": name.upper(),
        "category": "cost_optimized" if cpu_type == "shared" else "dedicated",
        "cores": cores,
        "memory": memory_gb,
        "disk": disk_gb,
        "storage_type": "local",
        "cpu_type": cpu_type,
        "architecture": architecture,
        "deprecated": everywhere,
        "deprecation": _DEPRECATION if everywhere else None,
        "prices": [
            {
                "location": location,
                "price_hourly": price(net),
                "price_monthly": price(net * 730),
                "included_traffic": 20 * 10**12,
                "price_per_tb_traffic": price(1.0),
            }
            for location, net in net_hourly.items()
        ],
        "locations": [
            {
                "id": _LOCATION_IDS[location],
                "name": location,
                "deprecation": _DEPRECATION if location in deprecated_in else None,
                "available": location not in unavailable_in,
                "recommended": location not in unavailable_in + deprecated_in,
            }
            for location in net_hourly
        ],
    }


_EU = ("fsn1", "nbg1", "hel1")
SERVER_TYPES: list[dict[str, Any]] = [
    _server_type(1, "cx22", 2, 4.0, 40, dict.fromkeys(_EU, 0.0059), deprecated_in=_EU),
    _server_type(2, "cx23", 2, 4.0, 40, dict.fromkeys(_EU, 0.0048)),
    _server_type(3, "cx33", 4, 8.0, 80, dict.fromkeys(_EU, 0.0088)),
    _server_type(
        4,
        "cpx31",
        4,
        8.0,
        160,
        {"fsn1": 0.0224, "nbg1": 0.0224, "hel1": 0.0224, "ash": 0.0264},
        deprecated_in=("hel1",),
    ),
    _server_type(
        5,
        "cax11",
        2,
        4.0,
        40,
        dict.fromkeys(_EU, 0.0064),
        architecture="arm",
        unavailable_in=("hel1",),
    ),
    _server_type(6, "ccx13", 2, 8.0, 80, {"fsn1": 0.0224, "ash": 0.0264}, cpu_type="dedicated"),
]

IMAGES: list[dict[str, Any]] = [
    {
        "id": number,
        "name": name,
        "type": "system",
        "status": "available",
        "description": description,
        "image_size": None,
        "disk_size": 5,
        "created": "2024-01-01T00:00:00+00:00",
        "os_flavor": flavor,
        "os_version": version,
        "architecture": "x86",
        "rapid_deploy": True,
        "protection": {"delete": False},
        "deprecation": None,
        "labels": {},
        "bound_to": None,
        "created_from": None,
    }
    for number, (name, description, flavor, version) in enumerate(
        [
            ("debian-12", "Debian 12", "debian", "12"),
            ("debian-13", "Debian 13", "debian", "13"),
            ("ubuntu-24.04", "Ubuntu 24.04", "ubuntu", "24.04"),
        ],
        start=100,
    )
]


def pricing() -> dict[str, Any]:
    """GET /pricing's body (the parts Corral reads, and a little more)."""
    return {
        "pricing": {
            "currency": CURRENCY,
            "vat_rate": "19.00",
            "server_types": [
                {"id": t["id"], "name": t["name"], "prices": t["prices"]} for t in SERVER_TYPES
            ],
        }
    }
