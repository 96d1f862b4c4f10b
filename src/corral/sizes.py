"""Amounts of memory as people write them (`2g`, `512m`, `1.5GiB`) and read them (`2 GiB`).

pydantic's `ByteSize` does the parsing, except for a bare one-letter unit: `2g` means 2 GiB
here, as it does to `docker run --memory`, where `ByteSize` would read 2 GB.
"""

from __future__ import annotations

import re

from pydantic import ByteSize, TypeAdapter, ValidationError

__all__ = ["format_bytes", "format_cpus", "parse_bytes"]

_BYTES = TypeAdapter(ByteSize)
_DOCKER_STYLE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt])\s*$", re.IGNORECASE)
_POWERS = {"k": 1, "m": 2, "g": 3, "t": 4}


def parse_bytes(text: str) -> int:
    """`2g`, `512m`, `1.5GiB`, `2GB` or a number of bytes; raises ValueError naming the forms."""
    docker = _DOCKER_STYLE.match(text)
    if docker:
        return int(float(docker[1]) * 1024 ** _POWERS[docker[2].lower()])
    try:
        return int(_BYTES.validate_python(text.strip()))
    except ValidationError:
        raise ValueError(
            f"{text!r} is not an amount of memory; write it like 512m, 2g or 1.5GiB"
        ) from None


def format_bytes(value: int) -> str:
    """`2 GiB`, `512 MiB`, `1.5 GiB`: binary units, one decimal where it is not zero."""
    text = ByteSize(value).human_readable(separator=" ")
    return text.replace(".0 ", " ")


def format_cpus(value: float) -> str:
    """`1 CPU`, `2 CPUs`, `1.5 CPUs`."""
    number = f"{value:g}"
    return f"{number} CPU" if number == "1" else f"{number} CPUs"
