"""Runtimes are found by name through the `corral.runtimes` entry points."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from corral.errors import CorralError, InvalidInput
from corral.netenv import NetworkEnvironment
from corral.node.runtimes.fake import FakeRuntime
from corral.node.runtimes.host import HostRuntime
from corral.node.runtimes.registry import load_runtime, load_runtimes, runtime_names
from corral.node.settings import NodeDaemonSettings


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
    assert "devcontainer, fake, host" in caught.value.message


def _settings(tmp_path: Path, **values: Any) -> NodeDaemonSettings:
    return NodeDaemonSettings(data_dir=tmp_path / "node", **values)


def test_a_runtime_that_cannot_work_here_is_reported_not_fatal(tmp_path: Path) -> None:
    """By default a node offers the dev container runtime too; without Docker it says why."""
    settings = _settings(tmp_path, runtime_settings={"host": {"sandbox": "none"}})
    docker = {"DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in docker.items():
            patch.setenv(name, value)
        runtimes, unavailable = load_runtimes(
            settings, network=NetworkEnvironment(), agents_dir=tmp_path / "agents"
        )
    assert list(runtimes) == ["host"]
    assert list(unavailable) == ["devcontainer"]
    assert unavailable["devcontainer"]


def test_a_runtime_named_in_the_settings_must_work(tmp_path: Path) -> None:
    settings = _settings(
        tmp_path,
        runtimes=["host", "devcontainer"],
        runtime_settings={"devcontainer": {"docker_host": f"unix://{tmp_path}/none.sock"}},
    )
    with pytest.raises(CorralError):
        load_runtimes(settings, network=NetworkEnvironment(), agents_dir=tmp_path / "agents")


def test_settings_of_a_runtime_the_node_does_not_run_are_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path, runtimes=["host"], runtime_settings={"fake": {}})
    with pytest.raises(InvalidInput) as caught:
        load_runtimes(settings, network=NetworkEnvironment(), agents_dir=tmp_path / "agents")
    assert "fake" in caught.value.message


def test_flat_runtime_settings_of_older_versions_get_a_clear_error() -> None:
    with pytest.raises(ValidationError) as caught:
        NodeDaemonSettings.model_validate({"runtime_settings": {"sandbox": "bwrap"}})
    assert '{"host": {"sandbox": "bwrap"}}' in str(caught.value)
