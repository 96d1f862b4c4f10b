"""Field types the API shares, with the patterns and lengths it enforces, so the OpenAPI
document states each rule where a client can read it. The rules themselves have their homes
beside the code that relies on them (`corral.gitenv`, `corral.control.services.names`); these
types only publish and apply them at the boundary."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from corral.gitenv import BRANCH_PATTERN, BRANCH_RULES, MAX_BRANCH_CHARS, validate_branch

__all__ = ["Branch"]


def _valid_branch(value: str) -> str:
    if validate_branch(value) is not None:
        raise ValueError(BRANCH_RULES)
    return value


# git's rule uses look-arounds, which pydantic's own pattern engine lacks: the pattern is
# published in the schema and applied by `validate_branch`.
Branch = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_BRANCH_CHARS,
        json_schema_extra={"pattern": BRANCH_PATTERN.pattern},
    ),
    AfterValidator(_valid_branch),
]
