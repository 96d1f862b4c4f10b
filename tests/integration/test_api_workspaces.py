"""Workspaces over the API: what a request to make one must get right before any node is asked."""

from __future__ import annotations

import pytest

from corral.control.services import workspaces
from corral.control.state import AppState
from corral.errors import InvalidInput
from corral.gitenv import BRANCH_RULES


@pytest.mark.parametrize(
    "branch", ["--upload-pack=touch pwned", "../x", "a..b", "main\n", "x.lock", "@", "a b", ""]
)
async def test_a_branch_git_would_refuse_is_refused_up_front(client, owner, git_repo, branch):
    project = await client.post(
        "/api/v1/projects", json={"name": "demo", "repo": str(git_repo)}, headers=owner.headers
    )
    assert project.status_code == 201, project.text
    response = await client.post(
        "/api/v1/workspaces", json={"project": "demo", "branch": branch}, headers=owner.headers
    )
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    assert [d["field"] for d in error["details"]] == ["body.branch"]
    if branch:
        assert error["details"][0]["message"] == f"Value error, {BRANCH_RULES}"
    listed = await client.get("/api/v1/workspaces", headers=owner.headers)
    assert listed.json()["items"] == []


async def test_a_projects_default_branch_follows_the_same_rule(client, owner, git_repo):
    response = await client.post(
        "/api/v1/projects",
        json={"name": "demo", "repo": str(git_repo), "default_branch": "--upload-pack=x"},
        headers=owner.headers,
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0] == {
        "field": "body.default_branch",
        "message": f"Value error, {BRANCH_RULES}",
        "type": "value_error",
    }


async def test_the_service_refuses_it_for_callers_other_than_the_api(app, client, owner, git_repo):
    project = await client.post(
        "/api/v1/projects", json={"name": "demo", "repo": str(git_repo)}, headers=owner.headers
    )
    assert project.status_code == 201, project.text
    state: AppState = app.state.corral
    async with state.db() as db:
        with pytest.raises(InvalidInput) as refused:
            await workspaces.create_workspace(
                db,
                owner.id,
                project_ref="demo",
                name=None,
                branch="--upload-pack=x",
                node_ref=None,
            )
    assert (refused.value.reason, refused.value.message) == ("invalid_branch", BRANCH_RULES)
