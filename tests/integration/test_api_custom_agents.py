"""Your own agents over the API: a whole catalog entry in, the same entry out, checked by the
catalog's rules; settings an agent cannot use are refused saying how to make them usable; and a
session gets the entry's launch, credential and endpoint as a built-in agent's would."""

from __future__ import annotations

from typing import Any

import pytest

from corral.control.db.models import CustomAgent
from corral.control.services import agents
from corral.errors import InvalidInput
from corral.ids import new_id
from tests.support.api import app_state
from tests.support.catalog import QWEN_CODE

QWEN: dict[str, Any] = {
    **QWEN_CODE,
    "endpoint_args": [],
    "default_endpoint": None,
    "auth_method": None,
    "sandboxed_args": [],
    "quirks": [],
}
"""The documented entry, with every field the API shows."""


async def add(client, user, name, **entry):
    return await client.post("/api/v1/agents", json={"name": name, **entry}, headers=user.headers)


async def configure(client, user, name, **body):
    return await client.patch(f"/api/v1/agents/{name}/settings", json=body, headers=user.headers)


async def credential(client, user, name, kind):
    response = await client.put(
        f"/api/v1/credentials/{name}", json={"kind": kind, "value": "k-0000"}, headers=user.headers
    )
    assert response.status_code == 201, response.text


async def test_every_field_of_a_catalog_entry_goes_in_and_comes_out(client, owner):
    made = await add(client, owner, "qwen", **QWEN)
    assert made.status_code == 201, made.text
    shown = made.json()
    assert {key: shown[key] for key in QWEN} == QWEN
    assert shown["name"] == "qwen" and shown["builtin"] is False
    assert shown["credential_kinds"] == ["openai"] and shown["endpoint"] is True

    got = await client.get("/api/v1/agents/qwen", headers=owner.headers)
    assert got.json() == shown
    listed = (await client.get("/api/v1/agents", headers=owner.headers)).json()
    assert [a["name"] for a in listed] == ["claude", "codex", "gemini", "qwen"]
    claude = listed[0]
    assert claude["credentials"] == {"anthropic": "ANTHROPIC_API_KEY"}
    assert claude["initial_mode"] == "default" and claude["builtin"] is True

    bare = await add(client, owner, "bare", command=["/usr/bin/my-agent"])
    assert bare.status_code == 201, bare.text
    assert bare.json()["title"] == "bare" and bare.json()["package"] is None
    assert bare.json()["endpoint"] is False and bare.json()["credentials"] == {}


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"package": "@qwen-code/qwen-code"}, "package and version go together"),
        (
            {"package": "@qwen-code/qwen-code", "version": "0.24.4", "command": ["./qwen"]},
            "with a package, the command starts with one of its programs",
        ),
        ({"endpoint_args": ["--base-url"]}, "endpoint_args must hold {endpoint}"),
        (
            {"default_endpoint": "https://api.example/v1"},
            "a default_endpoint needs endpoint_env or endpoint_args",
        ),
        ({"credentials": {"env": "KEY"}}, "an `env` credential needs no declaration"),
        ({"credentials": {"deepseek": "KEY"}}, "body.credentials.deepseek"),
        ({"version": "latest", "package": "x"}, "body.version"),
        ({"approval": "default"}, "body.approval"),
    ],
)
async def test_an_entry_breaking_a_catalog_rule_is_refused_naming_it(client, owner, entry, words):
    response = await add(client, owner, "mine", **{"command": ["qwen"], **entry})
    assert response.status_code == 422, response.text
    assert words in response.json()["error"]["message"], response.text
    listed = (await client.get("/api/v1/agents", headers=owner.headers)).json()
    assert "mine" not in [a["name"] for a in listed]


async def test_put_adds_or_replaces_an_entry_and_the_settings_stay(client, owner):
    url = "/api/v1/agents/qwen"
    entry = {key: value for key, value in QWEN.items() if value not in (None, [])}
    created = await client.put(url, json=entry, headers=owner.headers)
    assert created.status_code == 201, created.text
    set_model = await configure(client, owner, "qwen", model="qwen3-coder")
    assert set_model.status_code == 200, set_model.text

    again = await add(client, owner, "qwen", **entry)
    assert again.status_code == 409
    assert "corral agent add qwen --replace" in again.json()["error"]["message"]

    replaced = await client.put(url, json={**entry, "version": "0.25.0"}, headers=owner.headers)
    assert replaced.status_code == 200, replaced.text
    assert replaced.json()["version"] == "0.25.0"
    settings = await client.get(f"{url}/settings", headers=owner.headers)
    assert settings.json()["model"] == "qwen3-coder"

    builtin = await client.put("/api/v1/agents/claude", json=entry, headers=owner.headers)
    assert builtin.status_code == 409


async def test_an_endpoint_an_agent_has_nowhere_to_put_is_refused_saying_how(client, owner):
    await add(client, owner, "bare", command=["/usr/bin/my-agent"])
    refused = await configure(client, owner, "bare", endpoint="http://gateway.example/v1")
    assert refused.status_code == 422
    message = refused.json()["error"]["message"]
    assert "bare cannot use an endpoint" in message, message
    assert "corral agent add bare --replace" in message and "--endpoint-env VARIABLE" in message
    await add(client, owner, "carried", command=["/usr/bin/my-agent"], endpoint_env=["BASE_URL"])
    taken = await configure(client, owner, "carried", endpoint="http://gateway.example/v1")
    assert taken.status_code == 200, taken.text


async def test_a_credential_of_a_kind_an_agent_does_not_declare_is_refused_saying_how(
    client, owner
):
    await add(client, owner, "qwen", **QWEN)
    await add(client, owner, "bare", command=["/usr/bin/my-agent"])
    for name, kind in (("an-openai", "openai"), ("an-anthropic", "anthropic"), ("KEY", "env")):
        await credential(client, owner, name, kind)

    cases = [
        ("qwen", "an-anthropic", "qwen takes credentials of kind openai, not anthropic"),
        ("bare", "an-openai", "bare declares no credential kind"),
        ("claude", "an-openai", "claude takes credentials of kind anthropic, not openai"),
    ]
    for agent, name, words in cases:
        refused = await configure(client, owner, agent, credential=name)
        assert refused.status_code == 422, refused.text
        message = refused.json()["error"]["message"]
        assert words in message, message
        assert "use an `env` credential" in message, message
        # Only your own agents can say which variable carries another kind.
        assert ("--credential" in message) == (agent != "claude"), message
    for agent, name in (("qwen", "an-openai"), ("bare", "KEY"), ("claude", "KEY")):
        taken = await configure(client, owner, agent, credential=name)
        assert taken.status_code == 200, taken.text


async def test_a_session_gets_the_entrys_launch_credential_and_endpoint(app, client, owner):
    await add(client, owner, "qwen", **{**QWEN, "endpoint_args": ["--base={endpoint}"]})
    await credential(client, owner, "an-openai", "openai")
    state = app_state(app)

    async def launch():
        async with state.db() as db:
            spec = await agents.get_agent(db, owner.id, "qwen")
            resolved = await agents.resolve(db, owner.id, "qwen", None)
            return await agents.launch_for(db, state.secret_box, owner.id, spec, resolved)

    with pytest.raises(InvalidInput, match="qwen needs a credential"):
        await launch()
    await configure(client, owner, "qwen", credential="an-openai", endpoint="http://gw.example/v1")
    made, env = await launch()
    assert made.package == "@qwen-code/qwen-code" and made.version == "0.24.4"
    assert made.command == ["qwen", "--acp", "--auth-type", "openai", "--base=http://gw.example/v1"]
    assert made.initial_mode == "default"
    assert env == {"OPENAI_API_KEY": "k-0000", "OPENAI_BASE_URL": "http://gw.example/v1"}

    # Replaced by an entry with no endpoint setting, the agent refuses the stored endpoint at
    # the start instead of running without it.
    bare = {"command": ["qwen", "--acp"], "package": QWEN["package"], "version": "0.24.4"}
    bare["credentials"] = QWEN["credentials"]
    replaced = await client.put("/api/v1/agents/qwen", json=bare, headers=owner.headers)
    assert replaced.status_code == 200, replaced.text
    with pytest.raises(InvalidInput, match="corral agent configure qwen --clear endpoint"):
        await launch()


async def test_an_agent_added_as_a_bare_command_before_entries_still_loads(app, client, owner):
    async with app_state(app).db() as db:
        db.add(CustomAgent(id=new_id("agt"), user_id=owner.id, name="old", command=["old-acp"]))
        await db.commit()
    shown = await client.get("/api/v1/agents/old", headers=owner.headers)
    assert shown.status_code == 200, shown.text
    assert (shown.json()["title"], shown.json()["command"]) == ("old", ["old-acp"])


async def test_names_are_per_user_and_another_users_put_leaves_yours_alone(
    client, owner, other_user
):
    await add(client, owner, "qwen", **QWEN)
    theirs = await client.put(
        "/api/v1/agents/qwen", json={"command": ["/usr/bin/theirs"]}, headers=other_user.headers
    )
    assert theirs.status_code == 201, theirs.text
    mine = (await client.get("/api/v1/agents/qwen", headers=owner.headers)).json()
    assert mine["command"] == QWEN["command"] and mine["package"] == QWEN["package"]
