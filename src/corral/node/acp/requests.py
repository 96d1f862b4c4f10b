"""The ACP requests an agent sends that the node checks before serving them.

As the ACP schema (v1) defines them, camelCase on the wire, unknown fields ignored. Not the SDK's
`acp.schema`: importing it builds every model of the protocol, some two hundred, which cost the
node daemon about 15 MiB of memory for the four it needs; and its closed lists (a tool call's
`kind`) would refuse values newer agents send, where the node only needs to pass them on.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

__all__ = [
    "CreateTerminalRequest",
    "EnvVariable",
    "PermissionOption",
    "ReadTextFileRequest",
    "RequestPermissionRequest",
    "ToolCallUpdate",
    "WriteTextFileRequest",
]


class _Request(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class EnvVariable(_Request):
    name: str
    value: str


class CreateTerminalRequest(_Request):
    session_id: str
    command: str
    args: list[str] | None = None
    env: list[EnvVariable] | None = None
    cwd: str | None = None
    output_byte_limit: int | None = Field(None, ge=0)


class ReadTextFileRequest(_Request):
    session_id: str
    path: str
    line: int | None = Field(None, ge=0)
    limit: int | None = Field(None, ge=0)


class WriteTextFileRequest(_Request):
    session_id: str
    path: str
    content: str


class ToolCallUpdate(_Request):
    tool_call_id: str
    kind: str | None = None
    title: str | None = None
    content: list[dict[str, Any]] | None = None


class PermissionOption(_Request):
    option_id: str
    name: str
    kind: Literal["allow_once", "allow_always", "reject_once", "reject_always"]


class RequestPermissionRequest(_Request):
    session_id: str
    tool_call: ToolCallUpdate
    options: list[PermissionOption]
