"""Agent settings over the API: a project's layer over the user's, merged for sessions, and
each layer's own values told apart for an editor."""

from __future__ import annotations


async def settings(client, user, project=None):
    query = f"?project={project}" if project else ""
    response = await client.get(f"/api/v1/agents/claude/settings{query}", headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def patch(client, user, **body):
    response = await client.patch("/api/v1/agents/claude/settings", json=body, headers=user.headers)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_projects_own_settings_are_told_apart_from_inherited_ones(client, owner, git_repo):
    made = await client.post(
        "/api/v1/projects", json={"name": "demo", "repo": str(git_repo)}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    await patch(client, owner, model="opus", env={"SHARED": "user", "ONLY_USER": "1"})
    await patch(client, owner, project="demo", policy="allow-edits", env={"SHARED": "project"})

    mine = await settings(client, owner)
    assert mine["own"] == {
        "credential": None,
        "model": "opus",
        "policy": None,
        "endpoint": None,
        "env": {"SHARED": "user", "ONLY_USER": "1"},
        "args": None,
    }

    project = await settings(client, owner, "demo")
    # What a session in the project gets: both layers merged, the project's winning.
    assert project["model"] == "opus" and project["policy"] == "allow-edits"
    assert project["env"] == {"SHARED": "project", "ONLY_USER": "1"}
    # What the project itself sets.
    assert project["own"]["model"] is None
    assert project["own"]["policy"] == "allow-edits"
    assert project["own"]["env"] == {"SHARED": "project"}

    cleared = await patch(client, owner, project="demo", clear=["policy"])
    assert cleared["own"]["policy"] is None and cleared["policy"] == "ask"


async def test_a_layers_env_is_merged_as_a_json_merge_patch(client, owner):
    await patch(client, owner, env={"KEEP": "1", "DROP": "2"})
    changed = await patch(client, owner, env={"DROP": None, "NEW": "3"}, model="opus")
    assert changed["own"]["env"] == {"KEEP": "1", "NEW": "3"}
    untouched = await patch(client, owner, model="sonnet")
    assert untouched["own"]["env"] == {"KEEP": "1", "NEW": "3"}
    gone = await client.patch(
        "/api/v1/agents/claude/settings", json={"unset_env": ["KEEP"]}, headers=owner.headers
    )
    assert gone.status_code == 422  # null in `env` removes a variable
