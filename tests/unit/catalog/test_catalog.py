"""Catalog entries, built in or a user's own, pass one set of rules (`AgentSpec`), field by
field and across fields, and each broken rule is named in words a user can act on."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from corral.control.catalog import AgentSpec, builtin_agents
from corral.control.db.models import CredentialKind
from tests.support.catalog import QWEN_CODE

QWEN: dict[str, Any] = {"name": "qwen", **QWEN_CODE}


def test_the_built_in_entries_pass_and_take_only_known_credential_kinds() -> None:
    agents = builtin_agents()
    assert set(agents) == {"claude", "codex", "gemini"}
    kinds = {kind.value for kind in CredentialKind} - {CredentialKind.ENV.value}
    for spec in agents.values():
        assert spec.builtin and spec.package and spec.version
        assert set(spec.credentials) <= kinds, spec.name
        assert spec.takes_endpoint, spec.name


def test_a_full_entry_launches_with_its_endpoint_and_the_users_arguments() -> None:
    spec = AgentSpec.model_validate(
        {
            **QWEN,
            "endpoint_args": ["--openai-base-url={endpoint}"],
            "default_endpoint": "https://api.example/v1",
        }
    )
    launch = spec.launch(endpoint="http://gateway.example/v1", extra_args=["--model", "m"])
    assert launch.command == [
        "qwen",
        "--acp",
        "--auth-type",
        "openai",
        "--openai-base-url=http://gateway.example/v1",
        "--model",
        "m",
    ]
    assert (launch.package, launch.version, launch.initial_mode) == (
        "@qwen-code/qwen-code",
        "0.24.4",
        "default",
    )
    default = spec.launch(endpoint=None, extra_args=[])
    assert default.command[-1] == "--openai-base-url=https://api.example/v1"


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"version": None}, "package and version go together"),
        ({"package": None}, "package and version go together"),
        ({"command": ["/usr/bin/qwen"]}, "one of its programs (a bin of @qwen-code/qwen-code"),
        ({"command": ["../../bin/sh"]}, "not '../../bin/sh'"),
        ({"command": [" "]}, "its program, is empty"),
        ({"endpoint_args": ["--base-url", "URL"]}, "endpoint_args must hold {endpoint}"),
        (
            {"endpoint_env": [], "default_endpoint": "https://api.example/v1"},
            "a default_endpoint needs endpoint_env or endpoint_args",
        ),
        ({"default_endpoint": "ftp://api.example/"}, "must be an http or https URL"),
        ({"default_endpoint": "https://u:p@api.example/"}, "must not carry a user name"),
        ({"version": "^0.24"}, "version"),
        ({"package": "Qwen Code"}, "package"),
        ({"credentials": {"openai": "OPENAI KEY"}}, "credentials.openai"),
        ({"initial_mode": "two words"}, "initial_mode"),
        ({"title": "two\nlines"}, "title"),
        ({"quirks": ["flaky"]}, "quirks.0"),
        ({"command": ["qwen", "a\x00b"]}, "command.1"),
        ({"builtin_extra": 1}, "builtin_extra"),
    ],
)
def test_each_broken_rule_is_named(change: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        AgentSpec.model_validate({**QWEN, **change})
    assert words in str(caught.value), caught.value


def test_every_broken_rule_across_fields_is_named_at_once() -> None:
    with pytest.raises(ValidationError) as caught:
        AgentSpec.model_validate(
            {**QWEN, "version": None, "endpoint_args": ["--base-url"], "command": ["bin/qwen"]}
        )
    text = str(caught.value)
    assert "package and version go together" in text
    assert "one of its programs" in text
    assert "endpoint_args must hold {endpoint}" in text


def test_without_a_package_the_program_may_be_any_path_on_the_node() -> None:
    spec = AgentSpec.model_validate(
        {"name": "mine", "title": "Mine", "command": ["/usr/local/bin/my-agent", "--acp"]}
    )
    assert spec.package is None and not spec.takes_endpoint
    assert spec.launch(endpoint=None, extra_args=[]).command == ["/usr/local/bin/my-agent", "--acp"]
