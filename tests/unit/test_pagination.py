import pytest

from corral.control.services.pagination import decode_cursor, encode_cursor
from corral.errors import InvalidInput


@pytest.mark.parametrize("value", ["prj_01abc", 42])
def test_cursors_round_trip(value):
    assert decode_cursor(encode_cursor(value)) == value


@pytest.mark.parametrize("cursor", ["", "%%%", "bnVsbA", "W3RydWVd", "e30"])
def test_bad_cursors_are_invalid_input(cursor):
    with pytest.raises(InvalidInput):
        decode_cursor(cursor)
