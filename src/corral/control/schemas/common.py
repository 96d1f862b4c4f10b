"""Shapes every API response shares: the error body and a page of a list."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

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


class StrictInput(BaseModel):
    """A request body: unknown fields are an error rather than silently dropped."""

    model_config = ConfigDict(extra="forbid")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="Pass as `cursor` to get the next page; null on the last page."
    )
