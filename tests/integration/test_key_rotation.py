"""Rotating the credential key keeps every credential readable, with a key file or an env key."""

from __future__ import annotations

import base64
import os

import pytest

from corral.control import admin
from corral.control.app import create_state
from corral.control.bootstrap import prepare
from corral.control.datadir import data_dir_lock
from corral.control.db.models import CredentialKind
from corral.control.github.client import AppCredentials, GitHubUser, UserToken
from corral.control.services import credentials, githubaccounts, githubapp
from corral.errors import Conflict
from corral.settings import load_settings


async def store_and_read(settings, value: str | None = None) -> str:
    state = create_state(settings)
    try:
        owner = (await prepare(state)).owner
        async with state.db() as db:
            if value is not None:
                await credentials.set_credential(
                    db,
                    state.secret_box,
                    owner.id,
                    name="anthropic",
                    kind=CredentialKind.ANTHROPIC,
                    value=value,
                )
            row = await credentials.get_credential(db, owner.id, "anthropic")
            return await credentials.reveal_credential(db, state.secret_box, row)
    finally:
        await state.engine.dispose()


async def test_rotating_the_key_file_keeps_credentials(tmp_path, database_url):
    settings = load_settings(data_dir=tmp_path, database_url=database_url)
    await store_and_read(settings, "sk-ant-rotate-me")
    old_key = (tmp_path / "secret.key").read_text()

    count, key_file = await admin.rotate_secret_key(settings, lambda: pytest.fail("no prompt"))

    assert (count, key_file) == (1, tmp_path / "secret.key")
    assert (tmp_path / "secret.key").read_text() != old_key
    assert not (tmp_path / "secret.key.next").exists()
    assert await store_and_read(settings) == "sk-ant-rotate-me"


async def test_a_rotation_cut_short_is_finished_with_the_same_new_key(tmp_path, database_url):
    settings = load_settings(data_dir=tmp_path, database_url=database_url)
    await store_and_read(settings, "sk-ant-cut-short")
    await admin.rotate_secret_key(settings, lambda: "")
    # Simulate a crash after the commit and before the rename: the new key is only in .next.
    (tmp_path / "secret.key").rename(tmp_path / "secret.key.next")
    (tmp_path / "secret.key").write_text(base64.b64encode(os.urandom(32)).decode())

    assert await store_and_read(settings) == "sk-ant-cut-short"  # both keys are held
    await admin.rotate_secret_key(settings, lambda: "")
    assert await store_and_read(settings) == "sk-ant-cut-short"


async def test_rotating_an_environment_key_uses_the_key_given(tmp_path, database_url):
    old_key = base64.b64encode(os.urandom(32)).decode()
    new_key = base64.b64encode(os.urandom(32)).decode()
    old = load_settings(data_dir=tmp_path, database_url=database_url, secret_key=old_key)
    await store_and_read(old, "sk-ant-env-key")

    count, key_file = await admin.rotate_secret_key(old, lambda: new_key)

    assert (count, key_file) == (1, None)
    new = load_settings(data_dir=tmp_path, database_url=database_url, secret_key=new_key)
    assert await store_and_read(new) == "sk-ant-env-key"


async def test_rotation_refuses_while_the_server_runs(tmp_path):
    settings = load_settings(data_dir=tmp_path)
    with (
        data_dir_lock(tmp_path, "serving"),
        pytest.raises(Conflict, match="stop it before rotating"),
    ):
        await admin.rotate_secret_key(settings, lambda: "")


async def test_rotating_the_key_keeps_the_github_app_and_linked_accounts(
    tmp_path, database_url
) -> None:
    """The App's private key and webhook secret, and users' GitHub tokens, are sealed with the
    same key: a rotation that left them behind would lock Corral out of GitHub."""
    settings = load_settings(data_dir=tmp_path, database_url=database_url)
    made = AppCredentials(
        id=7,
        slug="corral-test",
        name="Corral test",
        client_id="Iv1.test",
        html_url="https://github.example/apps/corral-test",
        owner_login="octo",
        client_secret="client-secret-value",
        webhook_secret="webhook-secret-value",
        pem="-----BEGIN RSA PRIVATE KEY-----\nnot-a-real-key\n-----END RSA PRIVATE KEY-----\n",
    )
    who = GitHubUser(id=42, login="octo", name="Octo", email=None)
    state = create_state(settings)
    try:
        owner = (await prepare(state)).owner
        async with state.db() as db:
            await githubapp.save_app(db, state.secret_box, made, actor_id=owner.id)
            token = UserToken(access_token="ghu_user-token-value")
            await githubaccounts.link_account(db, state.secret_box, owner.id, who, token)
    finally:
        await state.engine.dispose()

    await admin.rotate_secret_key(settings, lambda: pytest.fail("no prompt"))

    state = create_state(settings)
    try:
        async with state.db() as db:
            app = await githubapp.get_app(db)
            assert app is not None
            opened = githubapp.open_secrets(state.secret_box, app)
            assert (opened.webhook_secret, opened.private_key) == (made.webhook_secret, made.pem)
            assert (
                await githubaccounts.user_token(db, state.secret_box, settings.github, owner.id)
                == "ghu_user-token-value"
            )
    finally:
        await state.engine.dispose()
