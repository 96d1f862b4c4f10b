"""Shapes every API response shares: the error body and a page of a list."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ANSWER_CONFIG", "ErrorBody", "ErrorResponse", "Page", "PublicModel", "StrictInput"]


class ErrorBody(BaseModel):
    code: str = Field(description="A short machine-readable word, e.g. `not_found`.")
    message: str = Field(description="What went wrong, written for a person.")
    details: Any = Field(None, description="Structure that depends on the code, e.g. fields.")


class ErrorResponse(BaseModel):
    error: ErrorBody


# Answers carry every field, defaults included: the OpenAPI document says so (each is required
# in the answer's schema), which the web app's generated types rely on.
ANSWER_CONFIG = ConfigDict(json_schema_serialization_defaults_required=True)


class PublicModel(BaseModel):
    """A response read from a table model's attributes."""

    model_config = ConfigDict(from_attributes=True, **ANSWER_CONFIG)


def _unstorable(value: Any) -> bool:
    """Text no database, process environment or argv can hold: NUL, or lone surrogates."""
    if isinstance(value, str):
        if "\x00" in value:
            return True
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


class StrictInput(BaseModel):
    """A request body: unknown fields are an error rather than silently dropped.

    JSON may carry NUL characters and lone surrogates (`"\\ud800"`) that no database, process
    environment or argv can hold; they are refused here, at the boundary, instead of failing deep
    inside a service.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        if _unstorable(value):
            raise ValueError("must be valid Unicode text without NUL characters")
        return value


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    model_config = ANSWER_CONFIG

    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; null on the last page."
    )
