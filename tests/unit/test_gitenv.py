"""The one rule for branch names (git check-ref-format's), which the API publishes as a pattern."""

from __future__ import annotations

import re

import pytest

from corral.gitenv import BRANCH_PATTERN, BRANCH_RULES, validate_branch

VALID = ["main", "feature/x", "v1.2", "a@b", "x.lockx", "release-2024_01", "ü", "x" * 255]
INVALID = [
    "",
    "@",
    "x" * 256,
    "-x",
    "--upload-pack=x",
    "/a",
    ".a",
    "a/",
    "a.",
    "a.lock",
    "a.lock/b",
    "../x",
    "a..b",
    "a@{b",
    "a//b",
    "a/.b",
    "a b",
    "a\tb",
    "a\nb",
    "main\n",
    "a\x7fb",
    "a~1",
    "a^",
    "a:b",
    "a?",
    "a*",
    "a[",
    "a\\b",
]


@pytest.mark.parametrize("branch", VALID)
def test_valid_branch_names_pass(branch: str) -> None:
    assert validate_branch(branch) is None


@pytest.mark.parametrize("branch", INVALID)
def test_invalid_branch_names_are_refused_without_echoing_them(branch: str) -> None:
    # One fixed message stating the rules: nothing of what was sent comes back in it.
    assert validate_branch(branch) == BRANCH_RULES


def test_the_published_pattern_is_plain_enough_for_json_schema() -> None:
    # `^...$` as JSON Schema reads it, and no Python-only syntax such as \Z or named groups.
    assert BRANCH_PATTERN.pattern.startswith("^") and BRANCH_PATTERN.pattern.endswith("$")
    assert not re.search(r"\\[AZz]|\(\?P", BRANCH_PATTERN.pattern)
