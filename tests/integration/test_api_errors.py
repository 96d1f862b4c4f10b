"""The edges of the HTTP surface: one error shape, body limits, health, metrics, OpenAPI."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest


async def test_unknown_routes_use_the_error_shape(client, owner):
    response = await client.get("/api/v1/nothing-here", headers=owner.headers)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


async def test_wrong_method_uses_the_error_shape(client, owner):
    response = await client.put("/api/v1/me", headers=owner.headers)
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


async def test_bodies_over_one_mebibyte_are_refused(client, owner):
    body = b'{"name": "' + b"x" * (1024 * 1024) + b'"}'
    response = await client.post(
        "/api/v1/tokens",
        content=body,
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


async def test_a_streamed_body_over_the_limit_is_refused(client, owner):
    async def chunks():
        for _ in range(20):
            yield b"x" * 65536

    response = await client.post(
        "/api/v1/projects",
        content=chunks(),
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


async def test_malformed_json_is_a_422_naming_the_body(client, owner):
    response = await client.post(
        "/api/v1/tokens",
        content=b"{not json",
        headers={**owner.headers, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"].startswith("body")


async def test_every_response_carries_a_request_id(client, owner):
    response = await client.get("/api/v1/me", headers={**owner.headers, "X-Request-ID": "abc-1"})
    assert response.headers["x-request-id"] == "abc-1"
    generated = await client.get("/api/v1/me", headers={**owner.headers, "X-Request-ID": "a b"})
    assert generated.headers["x-request-id"].startswith("req_")


async def test_health_and_readiness(client):
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/readyz")).json() == {"status": "ok", "database": "ok"}


async def test_metrics_need_auth_and_count_requests_by_route(client, owner):
    assert (await client.get("/metrics")).status_code == 401
    await client.get("/api/v1/projects/anything", headers=owner.headers)
    metrics = await client.get("/metrics", headers=owner.headers)
    assert metrics.status_code == 200
    assert (
        'corral_http_requests_total{method="GET",route="/api/v1/projects/{project}",status="404"}'
        in metrics.text
    )


async def test_openapi_is_served_under_the_api_prefix(client):
    document = (await client.get("/api/v1/openapi.json")).json()
    assert "/api/v1/projects" in document["paths"]
    assert document["info"]["title"] == "Corral"


async def test_an_internal_error_is_generic_logged_once_and_carries_the_request_id(
    app, client, caplog
):
    async def boom() -> None:
        raise RuntimeError("internal detail sk-should-not-leak")

    app.add_api_route("/api/v1/boom", boom)
    # Ahead of the web app's catch-all page route, as the app's own routes are.
    app.router.routes.insert(0, app.router.routes.pop())
    with caplog.at_level("ERROR"):
        response = await client.get("/api/v1/boom", headers={"X-Request-ID": "req-boom"})
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "internal_error"
    assert "req-boom" in error["message"]
    assert "sk-should-not-leak" not in response.text
    logged = [r for r in caplog.records if r.exc_info]
    assert len(logged) == 1
    assert logged[0].request_id == "req-boom"


LOCK_WAIT_SECONDS = 60.0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_write_that_waited_too_long_for_sqlite_is_a_503_to_retry(client, owner, settings):
    """SQLite has one writer: a change that cannot get the lock within its busy timeout (others
    hold it under a flood) is answered 503 with Retry-After, not a failure with a traceback."""
    path = settings.effective_database_url.removeprefix("sqlite+aiosqlite:///")
    # It waits for whatever the app is writing itself (its loops, at start) to take the lock,
    # on a thread: the app's writes finish on this event loop, which must not be blocked.
    holder = sqlite3.connect(
        path, isolation_level=None, timeout=LOCK_WAIT_SECONDS, check_same_thread=False
    )
    try:
        await asyncio.to_thread(holder.execute, "BEGIN IMMEDIATE")  # another writer holds it
        response = await client.post("/api/v1/tokens", json={"name": "t1"}, headers=owner.headers)
    finally:
        holder.close()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    error = response.json()["error"]
    assert error["code"] == "database_busy" and "try again" in error["message"]
    again = await client.post("/api/v1/tokens", json={"name": "t1"}, headers=owner.headers)
    assert again.status_code == 201, again.text
