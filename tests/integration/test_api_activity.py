"""The activity feed records every change, newest first, for the user it concerns."""

from __future__ import annotations


async def test_changes_are_recorded_newest_first(client, owner, git_repo):
    await client.post(
        "/api/v1/projects", json={"name": "demo", "repo": str(git_repo)}, headers=owner.headers
    )
    await client.patch("/api/v1/projects/demo", json={"env": {"A": "1"}}, headers=owner.headers)
    await client.put(
        "/api/v1/credentials/openai",
        json={"kind": "openai", "value": "sk-1234"},
        headers=owner.headers,
    )
    await client.delete("/api/v1/projects/demo", headers=owner.headers)

    feed = (await client.get("/api/v1/activity", headers=owner.headers)).json()["items"]
    actions = [event["action"] for event in feed]
    assert actions[:4] == [
        "project.deleted",
        "credential.created",
        "project.updated",
        "project.created",
    ]
    created = feed[3]
    assert created["actor_id"] == owner.id
    assert created["object_name"] == "demo"
    assert created["details"] == {
        "repo": str(git_repo),
        "default_branch": "main",
        "runtime": "auto",
    }
    assert feed[2]["details"] == {"changed": ["env"]}

    only_projects = await client.get(
        "/api/v1/activity", params={"object_type": "project"}, headers=owner.headers
    )
    assert {e["object_type"] for e in only_projects.json()["items"]} == {"project"}


async def test_each_user_sees_only_their_own_activity(client, owner, other_user, git_repo):
    await client.post(
        "/api/v1/projects", json={"name": "demo", "repo": str(git_repo)}, headers=owner.headers
    )
    theirs = (await client.get("/api/v1/activity", headers=other_user.headers)).json()["items"]
    assert "project.created" not in [e["action"] for e in theirs]
    assert all(e["actor_id"] in (other_user.id, None) for e in theirs)


async def test_activity_pages_without_gaps_or_repeats(client, owner):
    for i in range(7):
        await client.post("/api/v1/tokens", json={"name": f"t{i}"}, headers=owner.headers)
    everything = (
        await client.get("/api/v1/activity", params={"limit": 200}, headers=owner.headers)
    ).json()["items"]
    paged: list[int] = []
    cursor = None
    for _ in range(20):
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/activity", params=params, headers=owner.headers)).json()
        paged += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert paged == [e["id"] for e in everything]
    assert paged == sorted(paged, reverse=True)
