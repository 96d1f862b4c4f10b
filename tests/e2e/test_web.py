"""The web app in a real Chromium, against a real control plane and node with the scripted ACP
agent: sign in with a login link, see the dashboard, answer a permission request in place, and
chat with an agent on its session page.

Chromium comes from the system (`/usr/bin/chromium`, installed by scripts/test-deps.sh) and is
driven with Playwright; the web app is the build `scripts/build-web.sh` made.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from corral.control import web
from tests.support.processes import corral_env, run_cli
from tests.support.sessions import (
    SCRIPTED_AGENT,
    SCRIPTED_AGENT_RUNTIME_SETTINGS,
    SessionSite,
    session_site,
)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
UI_TIMEOUT_MS = 30_000


@dataclass(frozen=True)
class WebSite:
    site: SessionSite
    base: Path

    def new_link(self) -> str:
        """A one-time login link, made as `corral auth link` makes it on the server."""
        made = run_cli(
            "auth",
            "link",
            "--data-dir",
            str(self.base / "data"),
            env=corral_env(self.base / "server-home"),
        )
        assert made.returncode == 0, made.stderr
        return made.stdout.strip()


@pytest.fixture(scope="module")
def web_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    assert web.INDEX.is_file(), "the web app is not built: run scripts/build-web.sh"
    base = tmp_path_factory.mktemp("web")
    node_env = {"CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS}
    files = {"README.md": "web readme\n"}
    with session_site(base, files, node_env=node_env, wait_seconds=60.0) as site:
        site.api.post(
            "/agents", {"name": "scripted", "command": [sys.executable, str(SCRIPTED_AGENT)]}
        )
        yield WebSite(site, base)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def page(browser: Browser, web_site: WebSite) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    page.goto(web_site.new_link())  # the login page posts the token, then shows the dashboard
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    try:
        yield page
    finally:
        context.close()


def test_the_dashboard_shows_the_node_and_the_workspace(page: Page, web_site: WebSite) -> None:
    page.goto(web_site.site.url + "/")
    expect(page.get_by_text("owner").first).to_be_visible()
    nodes = page.locator("section", has=page.get_by_role("heading", name="Nodes"))
    expect(nodes.get_by_text("n1")).to_be_visible()
    workspaces = page.locator("section", has=page.get_by_role("heading", name="Workspaces"))
    expect(workspaces.get_by_text("w1")).to_be_visible()


def test_a_permission_request_is_answered_from_the_dashboard(page: Page, web_site: WebSite) -> None:
    site = web_site.site
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    prompt_id = site.prompt(session["id"], "permission path=from-browser.txt content=browser")
    site.pending_request(session["id"], prompt_id)
    page.goto(site.url + "/")
    pending = page.locator(
        "section", has=page.get_by_role("heading", name="Pending permission requests")
    )
    pending.get_by_role("button", name="Allow", exact=True).click()
    assert site.turn(session["id"], prompt_id)["stop_reason"] == "end_turn"
    assert (site.checkout / "from-browser.txt").read_text() == "browser"
    expect(pending.get_by_role("button", name="Allow", exact=True)).to_have_count(0)


def test_a_prompt_sent_from_the_session_page_streams_its_reply(
    page: Page, web_site: WebSite
) -> None:
    site = web_site.site
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    page.goto(f"{site.url}/sessions/{session['id']}")
    page.get_by_label("Prompt").fill("echo hello from the browser")
    page.get_by_role("button", name="Send").click()
    transcript = page.get_by_role("region", name="Transcript")
    expect(transcript.get_by_text("hello from the browser").last).to_be_visible()
    # The browser's prompt went through the API like any other: it is in the transcript.
    prompts = [e["payload"] for e in site.events(session["id"]) if e["kind"] == "prompt"]
    assert [p["text"] for p in prompts] == ["echo hello from the browser"]
    assert site.turn(session["id"], prompts[0]["prompt_id"])["stop_reason"] == "end_turn"


def test_signing_out_shows_the_signed_out_page(browser: Browser, web_site: WebSite) -> None:
    context = browser.new_context()
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    try:
        page.goto(web_site.new_link())
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_text("corral auth link").first).to_be_visible()
        assert page.context.request.get(web_site.site.url + "/api/v1/me").status == 401
    finally:
        context.close()
