"""The control plane serves the built web app at `/` and at the app's own paths, and keeps the
API's JSON 404s; without a build, `/` says how to get one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from corral.control import web
from corral.control.app import create_app
from corral.settings import load_settings

INDEX_HTML = "<!doctype html><title>Corral</title><div id=root></div>"
SCRIPT = "console.log('corral')"


@pytest.fixture
def built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    static = tmp_path / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text(INDEX_HTML)
    (static / "assets" / "app-1234.js").write_text(SCRIPT)
    monkeypatch.setattr(web, "STATIC_DIR", static)
    monkeypatch.setattr(web, "INDEX", static / "index.html")
    return static


@pytest.fixture
async def web_client(tmp_path: Path, built: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = load_settings(
        data_dir=tmp_path / "data", database_url=f"sqlite+aiosqlite:///{tmp_path / 'c.db'}"
    )
    app: FastAPI = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            yield c


@pytest.mark.parametrize("path", ["/", "/sessions/ses_01abc", "/projects", "/settings"])
async def test_the_app_answers_its_own_paths(web_client: httpx.AsyncClient, path: str) -> None:
    response = await web_client.get(path)
    assert response.status_code == 200
    assert response.text == INDEX_HTML
    assert response.headers["cache-control"] == "no-cache"
    assert "default-src 'self'" in response.headers["content-security-policy"]


async def test_assets_are_served(web_client: httpx.AsyncClient) -> None:
    response = await web_client.get("/assets/app-1234.js")
    assert response.status_code == 200
    assert response.text == SCRIPT


@pytest.mark.parametrize("path", ["/api/v1/nope", "/assets/missing.js", "/auth/nope"])
async def test_other_paths_keep_their_404(web_client: httpx.AsyncClient, path: str) -> None:
    response = await web_client.get(path)
    assert response.status_code == 404
    assert "<div id=root>" not in response.text


async def test_the_api_and_sign_in_still_answer(web_client: httpx.AsyncClient) -> None:
    assert (await web_client.get("/api/v1/me")).status_code == 401
    assert (await web_client.get("/auth/login", params={"token": "x"})).status_code == 200
    assert (await web_client.get("/healthz")).status_code == 200
