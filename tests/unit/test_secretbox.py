import base64
import os
import stat

import pytest

from corral.control.secretbox import SecretBox, SecretBoxError, load_secret_box
from corral.settings import load_settings


def test_values_round_trip_and_nonces_differ():
    box = SecretBox(os.urandom(32))
    first = box.seal("sk-value", b"row-1")
    second = box.seal("sk-value", b"row-1")
    assert first[1] != second[1] and first[2] != second[2]
    assert box.open(first, b"row-1") == "sk-value"
    assert b"sk-value" not in first[2]


def test_associated_data_binds_the_row():
    box = SecretBox(os.urandom(32))
    sealed = box.seal("sk-value", b"user-a")
    with pytest.raises(SecretBoxError):
        box.open(sealed, b"user-b")


def test_a_box_with_another_key_cannot_open_and_says_why():
    sealed = SecretBox(os.urandom(32)).seal("v", b"")
    with pytest.raises(SecretBoxError, match="key this control plane does not have"):
        SecretBox(os.urandom(32)).open(sealed, b"")


def test_a_rotated_box_still_opens_values_of_the_key_it_also_holds():
    old, new = os.urandom(32), os.urandom(32)
    sealed = SecretBox(old).seal("v", b"")
    assert SecretBox(new, others=(old,)).open(sealed, b"") == "v"


def test_the_key_file_is_made_once_with_mode_0600(tmp_path):
    settings = load_settings(data_dir=tmp_path / "data")
    sealed = load_secret_box(settings).seal("v", b"")
    key_file = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_secret_box(settings).open(sealed, b"") == "v"


def test_the_environment_key_wins_over_the_file(tmp_path):
    key = base64.b64encode(os.urandom(32)).decode()
    settings = load_settings(data_dir=tmp_path, secret_key=key)
    sealed = load_secret_box(settings).seal("v", b"")
    assert SecretBox(base64.b64decode(key)).open(sealed, b"") == "v"
    assert not (tmp_path / "secret.key").exists()
