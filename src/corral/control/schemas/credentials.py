"""Schemas for credentials: the value goes in, only metadata ever comes out."""

from __future__ import annotations

from datetime import datetime

from pydantic import ConfigDict, Field, SecretStr

from corral.control.db.models import CredentialKind
from corral.control.schemas.common import PublicModel, StrictInput
from corral.control.services.credentials import MAX_VALUE_BYTES

__all__ = ["CredentialPublic", "CredentialSet"]


class CredentialSet(StrictInput):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"kind": "anthropic", "value": "sk-ant-api03-example"}]}
    )

    kind: CredentialKind
    # SecretStr keeps the value out of reprs, logs and validation errors.
    value: SecretStr = Field(
        min_length=1,
        max_length=MAX_VALUE_BYTES,
        description="The secret value; never returned by any endpoint. Surrounding whitespace "
        "is dropped. API keys and tokens (anthropic, openai, gemini, hetzner, github) are one "
        "word of printable ASCII; an env value is any text up to 32 KiB; an ssh-key value is a "
        "PEM or OpenSSH private key, BEGIN to END line.",
    )


class CredentialPublic(PublicModel):
    id: str
    name: str
    kind: CredentialKind
    last4: str = Field(description="The value's last four characters, to recognise it.")
    created_at: datetime
    updated_at: datetime
    last_used_at: datetime | None
