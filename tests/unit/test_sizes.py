"""Amounts of memory as people write them on the command line, and as messages show them."""

import pytest

from corral.sizes import format_bytes, format_cpus, parse_bytes

GIB = 1 << 30


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2g", 2 * GIB),  # as `docker run --memory` reads it: binary
        ("512m", 512 << 20),
        ("1.5G", GIB + GIB // 2),
        ("1.5GiB", GIB + GIB // 2),
        ("2GB", 2_000_000_000),  # a unit spelt out is taken at its word
        ("1048576", 1 << 20),
    ],
)
def test_memory_is_read_as_people_write_it(text: str, value: int) -> None:
    assert parse_bytes(text) == value


@pytest.mark.parametrize("text", ["", "lots", "-1g", "2 gigs"])
def test_anything_else_is_refused_with_examples(text: str) -> None:
    with pytest.raises(ValueError, match=r"write it like 512m, 2g or 1\.5GiB"):
        parse_bytes(text)


def test_amounts_are_shown_in_binary_units_without_a_needless_decimal() -> None:
    assert [format_bytes(v) for v in (2 * GIB, 512 << 20, GIB + GIB // 2, 100)] == [
        "2 GiB",
        "512 MiB",
        "1.5 GiB",
        "100 B",
    ]
    assert [format_cpus(v) for v in (1, 2.0, 0.5)] == ["1 CPU", "2 CPUs", "0.5 CPUs"]
