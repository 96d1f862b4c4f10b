"""Projects over the API: added after git answers, listed by page, updated, deleted."""

from __future__ import annotations

import asyncio
import json

import pytest


async def add(client, user, **body):
    return await client.post("/api/v1/projects", json=body, headers=user.headers)


async def test_add_uses_the_repository_default_branch(client, owner, git_repo):
    response = await add(client, owner, name="demo", repo=str(git_repo), env={"FOO": "bar"})
    assert response.status_code == 201
    project = response.json()
    assert (project["name"], project["default_branch"], project["env"]) == (
        "demo",
        "main",
        {"FOO": "bar"},
    )
    by_name = await client.get("/api/v1/projects/demo", headers=owner.headers)
    by_id = await client.get(f"/api/v1/projects/{project['id']}", headers=owner.headers)
    assert by_name.json() == by_id.json() == project


async def test_add_with_a_named_branch(client, owner, git_repo):
    response = await add(client, owner, name="demo", repo=str(git_repo), default_branch="dev")
    assert response.status_code == 201
    assert response.json()["default_branch"] == "dev"


async def test_a_missing_branch_is_a_clear_error(client, owner, git_repo):
    response = await add(client, owner, name="demo", repo=str(git_repo), default_branch="nope")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "branch_not_found"
    assert error["message"] == f"the repository {git_repo} has no branch 'nope'"


async def test_an_unreachable_repository_is_a_clear_error(client, owner, tmp_path):
    response = await add(client, owner, name="demo", repo=str(tmp_path / "missing"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "repo_unreachable"
    assert "does not appear to be a git repository" in error["message"]
    assert "\n" not in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "Bad Name", "repo": "/x"}, "body.name"),
        ({"name": "demo", "repo": "relative/path"}, "body.repo"),
        ({"name": "demo", "repo": "https://user:secret@example.invalid/r.git"}, "body.repo"),
        ({"name": "demo", "repo": "https://ghp_token@example.invalid/r.git"}, "body.repo"),
        ({"name": "demo", "repo": "https://example.invalid/r.git?token=x"}, "body.repo"),
        ({"name": "demo", "repo": "ext::sh -c touch% /tmp/pwned"}, "body.repo"),
        ({"name": "demo", "repo": "/x", "default_branch": "*"}, "body.default_branch"),
        ({"name": "demo", "repo": "/x", "default_branch": "a..b"}, "body.default_branch"),
        ({"name": "demo", "repo": "/x\u0000"}, "body.repo"),
        ({"name": "prj_01abcdefghjkmnpqrstvwxyz01", "repo": "/x"}, "body.name"),
        ({"name": "demo", "repo": "--upload-pack=evil"}, "body.repo"),
        ({"name": "demo", "repo": "/x", "env": {"1BAD": "x"}}, "body.env.1BAD"),
        ({"name": "demo", "repo": "/x", "env": {"BIG": "x" * 40_000}}, "body.env.BIG"),
        ({"name": "demo"}, "body.repo"),
        ({"name": "demo", "repo": "/x", "colour": "red"}, "body.colour"),
    ],
)
async def test_invalid_fields_are_named(client, owner, body, field):
    response = await client.post("/api/v1/projects", json=body, headers=owner.headers)
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["error"]["details"]]


async def test_a_password_in_the_url_is_not_echoed(client, owner):
    response = await add(client, owner, name="demo", repo="https://u:hunter2@example.invalid/r")
    assert "hunter2" not in response.text


async def test_names_are_unique_per_user(client, owner, other_user, git_repo, git_url):
    assert (await add(client, owner, name="demo", repo=str(git_repo))).status_code == 201
    assert (await add(client, owner, name="demo", repo=str(git_repo))).status_code == 409
    assert (await add(client, other_user, name="demo", repo=git_url)).status_code == 201


async def test_only_the_owner_may_use_the_control_planes_disk(client, other_user, git_repo):
    for repo in (str(git_repo), f"file://{git_repo}"):
        response = await add(client, other_user, name="mine", repo=repo)
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "local_repo_owner_only"


async def test_a_remote_repository_is_checked_over_the_network(client, owner, git_url):
    response = await add(client, owner, name="remote", repo=git_url, default_branch="dev")
    assert response.status_code == 201, response.text
    missing = await add(client, owner, name="remote2", repo=git_url, default_branch="ev")
    assert missing.json()["error"]["code"] == "branch_not_found"  # a tail of "dev" is no match


async def test_update_and_delete(client, owner, git_repo):
    await add(client, owner, name="demo", repo=str(git_repo))
    response = await client.patch(
        "/api/v1/projects/demo",
        headers=owner.headers,
        json={"name": "renamed", "default_branch": "dev", "env": {"A": "1"}},
    )
    assert response.status_code == 200
    assert (response.json()["name"], response.json()["default_branch"]) == ("renamed", "dev")
    bad_branch = await client.patch(
        "/api/v1/projects/renamed", headers=owner.headers, json={"default_branch": "nope"}
    )
    assert bad_branch.status_code == 422
    still = await client.get("/api/v1/projects/renamed", headers=owner.headers)
    assert still.json()["default_branch"] == "dev"

    assert (
        await client.delete("/api/v1/projects/renamed", headers=owner.headers)
    ).status_code == 204
    assert (await client.get("/api/v1/projects/renamed", headers=owner.headers)).status_code == 404


async def test_another_users_project_is_not_found(client, owner, other_user, git_repo):
    project = (await add(client, owner, name="demo", repo=str(git_repo))).json()
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(
            method,
            f"/api/v1/projects/{project['id']}",
            headers=other_user.headers,
            json={} if method == "PATCH" else None,
        )
        assert response.status_code == 404, method
    listed = await client.get("/api/v1/projects", headers=other_user.headers)
    assert listed.json()["items"] == []


async def test_lists_page_through_every_project_newest_first(client, owner, git_repo):
    names = [f"p{i}" for i in range(5)]
    for name in names:
        assert (await add(client, owner, name=name, repo=str(git_repo))).status_code == 201
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/projects", params=params, headers=owner.headers)).json()
        assert len(page["items"]) <= 2
        seen += [p["name"] for p in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(names))


async def test_a_bad_cursor_is_a_clear_error(client, owner):
    response = await client.get("/api/v1/projects", params={"cursor": "%%%"}, headers=owner.headers)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "invalid_cursor"


async def test_text_that_is_not_unicode_is_refused(client, owner, git_repo):
    body = json.dumps({"name": "demo", "repo": str(git_repo), "env": {"A": "\ud800"}})
    response = await client.post(
        "/api/v1/projects",
        content=body.encode(),
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "body.env"


async def test_racing_creates_of_one_name_make_one_project(client, owner, git_repo):
    responses = await asyncio.gather(
        *(add(client, owner, name="race", repo=str(git_repo)) for _ in range(3))
    )
    assert sorted(r.status_code for r in responses) == [201, 409, 409]
    assert all("error" in r.json() for r in responses if r.status_code == 409)


async def test_env_is_merged_as_a_json_merge_patch(client, owner, git_repo):
    await add(client, owner, name="demo", repo=str(git_repo), env={"KEEP": "1", "DROP": "2"})

    async def patch_env(env):
        response = await client.patch(
            "/api/v1/projects/demo", headers=owner.headers, json={"env": env}
        )
        assert response.status_code == 200, response.text
        return response.json()["env"]

    assert await patch_env({"DROP": None, "NEW": "3", "GONE": None}) == {"KEEP": "1", "NEW": "3"}
    assert await patch_env({"KEEP": "changed"}) == {"KEEP": "changed", "NEW": "3"}
    renamed = await client.patch(
        "/api/v1/projects/demo", headers=owner.headers, json={"name": "other-name"}
    )
    assert renamed.json()["env"] == {"KEEP": "changed", "NEW": "3"}  # absent: untouched

    bad = await client.patch(
        "/api/v1/projects/other-name", headers=owner.headers, json={"env": {"1BAD": None}}
    )
    assert bad.status_code == 422
    assert bad.json()["error"]["details"] == [{"field": "body.env.1BAD"}]
