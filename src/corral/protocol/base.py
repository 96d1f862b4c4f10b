"""The building blocks of node-link bodies, shared by every message module."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, StringConstraints

from corral.netenv import EnvName

__all__ = ["MAX_ENV_VALUE_LENGTH", "MAX_ENV_VARS", "Body", "Empty", "EnvName", "EnvValue", "Id"]

Id = Annotated[str, StringConstraints(pattern=r"^[a-z]{3}_[0-9a-z]{26}$")]
MAX_ENV_VARS = 200
MAX_ENV_VALUE_LENGTH = 32 * 1024
EnvValue = Annotated[str, StringConstraints(max_length=MAX_ENV_VALUE_LENGTH)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Empty(Body):
    pass
