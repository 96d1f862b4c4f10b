"""Runtimes are found by name through the `corral.runtimes` entry points."""

from __future__ import annotations

import pytest

from corral.errors import InvalidInput
from corral.node.runtimes.fake import FakeRuntime
from corral.node.runtimes.host import HostRuntime
from corral.node.runtimes.registry import load_runtime, runtime_names


def test_the_built_in_runtimes_are_registered() -> None:
    assert {"host", "fake"} <= set(runtime_names())
    assert load_runtime("host") is HostRuntime
    assert load_runtime("fake") is FakeRuntime


def test_each_registered_name_is_the_class_name() -> None:
    for name in runtime_names():
        assert load_runtime(name).name == name


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        load_runtime("docker-ish")
    assert caught.value.reason == "unknown_runtime"
    assert "'docker-ish'" in caught.value.message
    assert "fake, host" in caught.value.message
