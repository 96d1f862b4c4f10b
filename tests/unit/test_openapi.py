"""The OpenAPI document states every status an operation can answer, in the one error shape,
and the patterns the API enforces on names, ids and branches."""

from __future__ import annotations

import base64
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from corral.control.api.openapi import SERVICE_ERRORS
from corral.control.app import create_app
from corral.control.schemas.nodes import NodePublic
from corral.control.services.names import ID_PATTERN, NAME_PATTERN, NEW_NAME_PATTERN
from corral.gitenv import BRANCH_PATTERN
from corral.settings import load_settings
from corral.states import NodeState

ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = load_settings(
        data_dir=Path(tmp_path_factory.mktemp("openapi")),
        database_url="sqlite+aiosqlite:///:memory:",
        secret_key=base64.b64encode(os.urandom(32)).decode(),
    )
    return dict(create_app(settings).openapi())


def statuses(document: dict[str, Any], method: str, path: str) -> str:
    return " ".join(sorted(document["paths"][f"/api/v1{path}"][method]["responses"]))


def test_every_error_status_has_the_error_shape(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas
    assert schemas["ErrorResponse"]["properties"]["error"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                if int(status) >= 400:
                    where = f"{method} {path} {status}"
                    assert response["content"]["application/json"]["schema"] == ERROR_REF, where


def test_statuses_follow_what_each_operation_can_do(document: dict[str, Any]) -> None:
    assert statuses(document, "get", "/me") == "200 401"
    assert statuses(document, "post", "/tokens") == "201 400 401 403 409 413 422"
    assert statuses(document, "put", "/credentials/{name}") == "200 201 400 401 403 404 409 413 422"
    assert statuses(document, "post", "/auth/exchange") == "201 400 401 413 422 429"
    assert statuses(document, "get", "/users") == "200 401 403 422"
    assert statuses(document, "post", "/projects") == "201 400 401 403 409 413 422 502 503"
    assert statuses(document, "post", "/sessions/{session}/prompts") == (
        "202 400 401 403 404 409 413 422 502 503"
    )
    assert statuses(document, "get", "/workspaces/{workspace}/terminals") == (
        "200 401 404 409 422 502 503"
    )


def test_every_service_error_rule_applies_to_some_operation(document: dict[str, Any]) -> None:
    operations = [(method, path) for path, ops in document["paths"].items() for method in ops]
    for methods, pattern, _statuses, why in SERVICE_ERRORS:
        assert any(m in methods and pattern.match(p) for m, p in operations), why


def test_names_ids_and_branches_carry_their_patterns(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]

    def parameter(method: str, path: str, name: str) -> dict[str, Any]:
        operation = document["paths"][f"/api/v1{path}"][method]
        found = next(p for p in operation["parameters"] if p["name"] == name)
        return dict(found["schema"])

    assert parameter("get", "/projects/{project}", "project")["pattern"] == NAME_PATTERN.pattern
    assert parameter("get", "/sessions/{session}", "session")["pattern"] == ID_PATTERN.pattern
    assert schemas["ProjectCreate"]["properties"]["name"]["pattern"] == NEW_NAME_PATTERN.pattern
    branch = schemas["WorkspaceCreate"]["properties"]["branch"]["anyOf"][0]
    assert (branch["pattern"], branch["maxLength"]) == (BRANCH_PATTERN.pattern, 255)


def test_answers_require_the_fields_they_always_carry(document: dict[str, Any]) -> None:
    """Defaults included: a client generated from the document may count on them."""
    schemas = document["components"]["schemas"]
    assert "next_cursor" in schemas["Page_SessionPublic_"]["required"]
    assert "connected" in schemas["NodePublic"]["required"]
    assert set(schemas["AgentSettingsLayer"]["required"]) == {
        "credential",
        "model",
        "policy",
        "endpoint",
        "env",
        "args",
    }
    # What a client sends may still leave defaults out.
    assert "required" not in schemas["AgentSettingsUpdate"]


def test_a_nodes_capacity_and_usage_say_what_they_hold(document: dict[str, Any]) -> None:
    node = document["components"]["schemas"]["NodePublic"]["properties"]
    isolation = node["capacity"]["properties"]["isolation"]
    assert isolation["properties"]["sandbox"]["enum"] == ["bwrap", "container", "none"]
    assert node["capacity"]["additionalProperties"] is True
    assert node["usage"]["properties"]["agents"]["items"] == {"type": "string"}


def test_a_nodes_capacity_is_answered_as_stored() -> None:
    now = datetime.now(UTC)
    stored = {"cpus": 2, "isolation": {"sandbox": "bwrap"}, "from_a_newer_node": [1]}
    node = NodePublic(
        id="nod_1",
        name="n",
        provider="manual",
        state=NodeState.READY,
        state_reason=None,
        state_changed_at=now,
        version=None,
        last_seen_at=None,
        capacity=stored,
        usage={},
        created_at=now,
    )
    assert node.model_dump(mode="json")["capacity"] == stored
