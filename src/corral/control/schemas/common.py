"""Shapes every API response shares: the error body and a page of a list."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["ErrorBody", "ErrorResponse", "Page", "PublicModel", "StrictInput"]


class ErrorBody(BaseModel):
    code: str = Field(description="A short machine-readable word, e.g. `not_found`.")
    message: str = Field(description="What went wrong, written for a person.")
    details: Any = Field(None, description="Structure that depends on the code, e.g. fields.")


class ErrorResponse(BaseModel):
    error: ErrorBody


class PublicModel(BaseModel):
    """A response read from a table model's attributes."""

    model_config = ConfigDict(from_attributes=True)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode()
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


class StrictInput(BaseModel):
    """A request body: unknown fields are an error rather than silently dropped.

    JSON may carry lone surrogates (`"\\ud800"`) that no database or process environment can
    store; they are refused here, at the boundary, instead of failing deep inside a service.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="before")
    @classmethod
    def _valid_unicode(cls, value: Any) -> Any:
        if _has_lone_surrogate(value):
            raise ValueError("must be valid Unicode text")
        return value


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; null on the last page."
    )
