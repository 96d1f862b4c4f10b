import pytest

from corral.control.services.pagination import decode_cursor, encode_cursor
from corral.errors import InvalidInput


@pytest.mark.parametrize(("value", "kind"), [("prj_01abc", str), (42, int)])
def test_cursors_round_trip(value, kind):
    assert decode_cursor(encode_cursor(value), kind) == value


@pytest.mark.parametrize("cursor", ["", "%%%", "bnVsbA", "W3RydWVd", "e30"])
def test_bad_cursors_are_invalid_input(cursor):
    with pytest.raises(InvalidInput):
        decode_cursor(cursor)


@pytest.mark.parametrize(
    ("value", "kind"), [("prj_01abc", int), (42, str), (2**64, int), (-1, int), (True, int)]
)
def test_a_cursor_of_the_wrong_type_or_range_is_invalid_input(value, kind):
    with pytest.raises(InvalidInput):
        decode_cursor(encode_cursor(value), kind)
