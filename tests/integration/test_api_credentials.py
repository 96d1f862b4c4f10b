"""Credentials over the API: stored, replaced, listed as metadata, deleted, validated."""

from __future__ import annotations

import pytest

from corral.control.services import credentials
from tests.support.api import app_state


async def put(client, user, name, kind, value):
    return await client.put(
        f"/api/v1/credentials/{name}", json={"kind": kind, "value": value}, headers=user.headers
    )


async def test_store_list_replace_and_delete(app, client, owner):
    created = await put(client, owner, "anthropic", "anthropic", "sk-ant-first-1111")
    assert created.status_code == 201
    assert created.json()["last4"] == "1111"
    assert "value" not in created.json()

    replaced = await put(client, owner, "anthropic", "anthropic", "sk-ant-second-2222")
    assert replaced.status_code == 200
    assert replaced.json()["id"] == created.json()["id"]

    listed = (await client.get("/api/v1/credentials", headers=owner.headers)).json()["items"]
    assert [(c["name"], c["kind"], c["last4"]) for c in listed] == [
        ("anthropic", "anthropic", "2222")
    ]
    async with app_state(app).db() as db:
        row = await credentials.get_credential(db, owner.id, "anthropic")
        value = await credentials.reveal_credential(db, app_state(app).secret_box, row)
    assert value == "sk-ant-second-2222"
    shown = (await client.get("/api/v1/credentials/anthropic", headers=owner.headers)).json()
    assert shown["last_used_at"] is not None

    deleted = await client.delete("/api/v1/credentials/anthropic", headers=owner.headers)
    assert deleted.status_code == 204
    gone = await client.get("/api/v1/credentials/anthropic", headers=owner.headers)
    assert gone.status_code == 404


async def test_users_do_not_see_each_others_credentials(client, owner, other_user):
    await put(client, owner, "github", "github", "ghp_owner_secret")
    listed = await client.get("/api/v1/credentials", headers=other_user.headers)
    assert listed.json()["items"] == []
    response = await client.get("/api/v1/credentials/github", headers=other_user.headers)
    assert response.status_code == 404
    # The other user can have a credential of the same name: names are per user.
    assert (await put(client, other_user, "github", "github", "ghp_other")).status_code == 201


@pytest.mark.parametrize(
    ("name", "kind", "value", "field"),
    [
        ("anthropic", "anthropic", "   ", "body.value"),
        ("anthropic", "nonsense", "x", "body.kind"),
        ("key", "ssh-key", "not a key", "body.value"),
        ("lower-case-dash", "env", "value", "path.name"),
        ("anthropic", "anthropic", "x" * (64 * 1024 + 1), "body.value"),
    ],
)
async def test_bad_credentials_are_refused_naming_the_field(
    client, owner, name, kind, value, field
):
    response = await put(client, owner, name, kind, value)
    assert response.status_code == 422
    assert field in [d["field"] for d in response.json()["error"]["details"]]
    listed = await client.get("/api/v1/credentials", headers=owner.headers)
    assert listed.json()["items"] == []


async def test_env_credentials_are_named_after_their_variable(client, owner):
    response = await put(client, owner, "OPENAI_BASE_URL", "env", "http://127.0.0.1:9/v1")
    assert response.status_code == 201
    assert response.json()["kind"] == "env"


async def test_ssh_keys_are_accepted(client, owner):
    key = "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----\n"
    response = await put(client, owner, "deploy", "ssh-key", key)
    assert response.status_code == 201


async def test_short_values_show_no_characters(client, owner):
    response = await put(client, owner, "SHORT_VALUE", "env", "abcd")
    assert response.json()["last4"] == ""


SECRET = "sk-live-0123456789abcdef"


@pytest.mark.parametrize(
    ("kind", "value", "message"),
    [
        (
            "anthropic",
            f"{SECRET}\nX-Injected: 1",
            "an anthropic credential is one word of printable ASCII, but the value has a line "
            "break inside it",
        ),
        (
            "openai",
            f"{SECRET} {SECRET}",
            "an openai credential is one word of printable ASCII, but the value has a space or "
            "tab inside it",
        ),
        (
            "github",
            f"{SECRET}\x1b[2J",
            "a github credential is one word of printable ASCII, but the value has a control "
            "character inside it",
        ),
        (
            "hetzner",
            f"“{SECRET}”",
            "a hetzner credential is one word of printable ASCII, but the value has a character "
            "outside ASCII in it (a curly quote or a look-alike letter copied with it?)",
        ),
        (
            "gemini",
            "k" * (32 * 1024 + 1),
            "a gemini credential reaches agents as an environment variable, which holds at most "
            "32768 characters",
        ),
        (
            "ssh-key",
            f"-----BEGIN OPENSSH PRIVATE KEY-----\n{SECRET}\n",
            "an ssh-key credential is a private key in OpenSSH or PEM format: from its "
            "'-----BEGIN ... PRIVATE KEY-----' line to the matching '-----END' line, in ASCII",
        ),
    ],
)
async def test_values_are_checked_for_their_kind_without_being_echoed(
    client, owner, kind, value, message
):
    name = "SOME_VARIABLE" if kind == "env" else "cred"
    response = await put(client, owner, name, kind, value)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert (error["code"], error["message"]) == ("invalid_input", message)
    assert error["details"] == [{"field": "body.value"}]
    assert SECRET not in response.text and "kkkk" not in response.text


async def test_surrounding_whitespace_is_dropped_and_ssh_keys_keep_their_lines(app, client, owner):
    key = (
        "-----BEGIN OPENSSH PRIVATE KEY-----\r\nb3BlbnNzaC1rZXk=\r\nAAAA\r\n"
        "-----END OPENSSH PRIVATE KEY-----"
    )
    stored = {
        "anthropic": ("anthropic", "  sk-ant-pasted-0123456789\n"),
        "MULTI_LINE": ("env", "\nline one\nline two\n\n"),
        "deploy": ("ssh-key", f"\n{key}\r\n\r\n"),
    }
    for name, (kind, value) in stored.items():
        response = await put(client, owner, name, kind, value)
        assert response.status_code == 201, response.text
    async with app_state(app).db() as db:
        revealed = {
            name: await credentials.reveal_credential(
                db, app_state(app).secret_box, await credentials.get_credential(db, owner.id, name)
            )
            for name in stored
        }
    assert revealed == {
        "anthropic": "sk-ant-pasted-0123456789",
        "MULTI_LINE": "line one\nline two",
        "deploy": key.replace("\r\n", "\n") + "\n",
    }
