"""Schemas for credentials: the value goes in, only metadata ever comes out."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field, SecretStr

from corral.control.db.models import CredentialKind
from corral.control.schemas.common import PublicModel, StrictInput

__all__ = ["CredentialPublic", "CredentialSet"]


class CredentialSet(StrictInput):
    kind: CredentialKind
    # SecretStr keeps the value out of reprs, logs and validation errors.
    value: SecretStr = Field(description="The secret value; never returned by any endpoint.")


class CredentialPublic(PublicModel):
    id: str
    name: str
    kind: CredentialKind
    last4: str = Field(description="The value's last four characters, to recognise it.")
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
