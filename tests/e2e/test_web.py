"""The web app in a real Chromium, against a real control plane and node with the scripted ACP
agent: sign in with a login link, see the dashboard, answer a permission request in place, and
chat with an agent on its session page.

Chromium comes from the system (`/usr/bin/chromium`, installed by scripts/test-deps.sh) and is
driven with Playwright; the web app is the build `scripts/build-web.sh` made.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from corral.control import web
from tests.support.browser import UI_TIMEOUT_MS, chromium, login_link, signed_in
from tests.support.github_fake import FakeGitHub, fake_github
from tests.support.sessions import (
    SCRIPTED_AGENT,
    SCRIPTED_AGENT_RUNTIME_SETTINGS,
    SessionSite,
    session_site,
)
from tests.support.waits import eventually_sync

# Assertions wait as long as actions do: an agent's turn goes through a node, and CI is busy.
expect.set_options(timeout=UI_TIMEOUT_MS)


@dataclass(frozen=True)
class WebSite:
    site: SessionSite
    base: Path
    github: FakeGitHub

    def new_link(self) -> str:
        return login_link(self.base)


@pytest.fixture(scope="module")
def web_site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebSite]:
    assert web.INDEX.is_file(), "the web app is not built: run scripts/build-web.sh"
    base = tmp_path_factory.mktemp("web")
    node_env = {"CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS}
    files = {"README.md": "web readme\n"}
    with fake_github(base / "github") as github:
        server_env = {
            "CORRAL_GITHUB__WEB_URL": github.web_url,
            "CORRAL_GITHUB__API_URL": github.api_url,
        }
        with session_site(
            base, files, node_env=node_env, server_env=server_env, wait_seconds=60.0
        ) as site:
            site.api.post(
                "/agents", {"name": "scripted", "command": [sys.executable, str(SCRIPTED_AGENT)]}
            )
            yield WebSite(site, base, github)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as browser:
        yield browser


@pytest.fixture(scope="module")
def page_errors() -> list[str]:
    """Uncaught errors in the page's scripts, in the order they happened."""
    return []


@pytest.fixture(scope="module")
def page(browser: Browser, web_site: WebSite, page_errors: list[str]) -> Iterator[Page]:
    context = browser.new_context()
    context.set_default_timeout(UI_TIMEOUT_MS)
    page = context.new_page()
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.goto(web_site.new_link())  # the login page posts the token, then shows the dashboard
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    try:
        yield page
    finally:
        context.close()


@pytest.fixture(autouse=True)
def no_page_errors(page_errors: list[str]) -> Iterator[None]:
    """A test passes only if the app threw nothing while it ran."""
    page_errors.clear()
    yield
    assert page_errors == []


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


def test_an_invited_user_signs_in_with_the_link_from_settings(
    page: Page, browser: Browser, web_site: WebSite
) -> None:
    page.goto(web_site.site.url + "/settings")
    users = page.get_by_role("region", name="Users")
    users.get_by_label("User name").fill("carol")
    users.get_by_role("button", name="Create invite link").click()
    link = users.locator("pre code").inner_text().strip()
    assert "/auth/login?token=" in link
    users.get_by_role("button", name="Done").click()
    expect(users.locator("pre code")).to_have_count(0)  # shown once
    invites = users.get_by_role("table", name="Pending invites")
    expect(invites.get_by_role("cell", name="carol", exact=True)).to_be_visible()

    guest = browser.new_context()
    try:
        guest_page = guest.new_page()
        guest_page.goto(link)
        expect(guest_page.get_by_role("heading", name="Dashboard")).to_be_visible()
        expect(guest_page.get_by_title("Signed in as carol (member)")).to_be_visible()
        expect(guest_page.get_by_test_id("connection-indicator")).to_have_attribute(
            "data-state", "live"
        )
        # A member sees their own (empty) lists, not the owner's workspaces.
        expect(guest_page.get_by_role("link", name="w1")).to_have_count(0)

        # Disabled from the owner's settings: carol's open page is signed out at once.
        page.reload()
        expect(users.get_by_text("No invites waiting.")).to_be_visible()
        users.get_by_role("button", name="Disable carol").click()
        users.get_by_role("button", name="Disable", exact=True).click()
        expect(users.get_by_text("carol is disabled")).to_be_visible()
        expect(guest_page.get_by_text("your account has been disabled")).to_be_visible()
        users.get_by_role("button", name="Enable carol").click()
        expect(users.get_by_text("carol is enabled")).to_be_visible()
    finally:
        guest.close()


def test_the_connection_indicator_says_live(page: Page, web_site: WebSite) -> None:
    page.goto(web_site.site.url + "/")
    indicator = page.get_by_test_id("connection-indicator")
    expect(indicator).to_have_attribute("data-state", "live")
    expect(indicator).to_contain_text("Live")


def test_a_terminal_tab_runs_commands_and_replays_its_scrollback_after_a_reload(
    page: Page, web_site: WebSite
) -> None:
    site = web_site.site
    page.goto(f"{site.url}/workspaces/{site.workspace_id}")
    expect(page.get_by_role("heading", name="w1")).to_be_visible()
    page.get_by_role("button", name="New terminal").click()
    screen = page.get_by_test_id("terminal-screen").last
    expect(screen).to_have_attribute("data-state", "live")
    screen.click()
    page.keyboard.type("echo $((6 * 7))-answer\n")
    expect(screen).to_contain_text("42-answer")
    # The tab comes back after a reload, and the node replays what the terminal printed.
    page.reload()
    screen = page.get_by_test_id("terminal-screen").last
    expect(screen).to_contain_text("42-answer")
    expect(page.get_by_role("tab", name="Terminal 1")).to_have_attribute("aria-selected", "true")


def test_the_session_page_resumes_after_the_control_plane_restarts(
    page: Page, web_site: WebSite
) -> None:
    """The page reconnects on its own and carries on from its last event: nothing is shown
    twice, nothing is missing, and the indicator says when it is live again."""
    site = web_site.site
    session = site.start("scripted")
    site.wait_state(session["id"], "idle")
    page.goto(f"{site.url}/sessions/{session['id']}")
    transcript = page.get_by_role("region", name="Transcript")
    site.turn(session["id"], site.prompt(session["id"], "before-the-restart marker"))
    expect(transcript.get_by_text("before-the-restart").last).to_be_visible()

    site.kill_and_restart_control_plane()
    eventually_sync(
        lambda: site.api.get("/nodes/n1")["connected"],
        "the node relinked",
        wait_seconds=60.0,
    )
    site.turn(session["id"], site.prompt(session["id"], "after-the-restart marker"))
    expect(transcript.get_by_text("after-the-restart").last).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("connection-indicator")).to_have_attribute(
        "data-state", "live", timeout=60_000
    )
    # Each text twice, no more: the user's prompt and the agent's echo of it.
    expect(transcript.get_by_text("before-the-restart marker", exact=True)).to_have_count(2)
    expect(transcript.get_by_text("after-the-restart marker", exact=True)).to_have_count(2)


SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
WIDTHS = {"narrow": 375, "wide": 1280}


def test_the_whole_flow_in_the_browser(page: Page, web_site: WebSite) -> None:
    """A new user's path: a credential, a project, a workspace, a terminal, a chat whose edit
    is approved and shows in the terminal, an answer from the dashboard, and the chat still there
    after the workspace is stopped and started again."""
    site = web_site.site
    page.goto(site.url + "/settings")
    credentials = page.get_by_role("region", name="Credentials")
    credentials.get_by_label("Name").fill("flow-key")
    credentials.get_by_label("Value", exact=True).fill("sk-flow-secret-value")
    credentials.get_by_role("button", name="Save credential").click()
    expect(credentials.get_by_role("cell", name="flow-key", exact=True)).to_be_visible()
    expect(page.get_by_text("sk-flow-secret-value")).to_have_count(0)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Projects").click()
    # The settings page, with its five Name fields, may still be up for a moment.
    expect(page.get_by_label("Repository URL")).to_be_visible()
    page.get_by_label("Name").fill("flow")
    page.get_by_label("Repository URL").fill(str(web_site.base / "repo"))
    page.get_by_role("button", name="Add project").click()
    expect(page.get_by_role("heading", name="flow", exact=True)).to_be_visible()

    page.get_by_role("button", name="New workspace").click()
    expect(page).to_have_url(re.compile(r"/workspaces/wsp_"))
    expect(page.get_by_role("heading", level=1).locator(".badge")).to_have_text(
        "running", timeout=60_000
    )
    workspace_id = page.url.rsplit("/", 1)[-1]
    checkout = site.node_dir / "workspaces" / workspace_id / "repo"

    page.get_by_role("button", name="New terminal").click()
    terminal = page.get_by_test_id("terminal-screen").last
    expect(terminal).to_have_attribute("data-state", "live")

    page.get_by_role("button", name="New chat").click()
    page.get_by_label("Agent").select_option("scripted")
    page.get_by_role("button", name="Start chat").click()
    chat = page.get_by_role("tabpanel").filter(has=page.get_by_label("Prompt"))
    chat.get_by_label("Prompt").fill("permission path=flow.txt content=approved-in-the-browser")
    chat.get_by_role("button", name="Send").click()
    card = chat.get_by_text("Write flow.txt").first
    expect(card).to_be_visible()
    expect(chat.get_by_text("approved-in-the-browser").first).to_be_visible()  # the diff
    expect(chat.locator(".diff-path").first).to_have_text("flow.txt")  # relative to the checkout
    chat.get_by_role("button", name="Allow", exact=True).click()
    expect(chat.get_by_text("completed").first).to_be_visible()
    assert (checkout / "flow.txt").read_text() == "approved-in-the-browser"

    page.get_by_role("tab", name="Terminal 1").click()
    terminal.click()
    page.keyboard.type("cat flow.txt; echo\n")
    expect(terminal).to_contain_text("approved-in-the-browser")

    # A second request, answered from the dashboard.
    page.get_by_role("tab", name=re.compile("permission path=flow")).click()
    chat.get_by_label("Prompt").fill("permission path=dash.txt content=from-the-dashboard")
    chat.get_by_role("button", name="Send").click()
    expect(chat.get_by_text("Write dash.txt").first).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Dashboard").click()
    pending = page.locator(
        "section", has=page.get_by_role("heading", name="Pending permission requests")
    )
    request = pending.get_by_role("listitem").filter(has_text="Write dash.txt")
    request.get_by_role("button", name="Allow", exact=True).click()
    expect(request).to_have_count(0)
    assert _wait_for_file(checkout / "dash.txt") == "from-the-dashboard"

    # Stop and start: the chat and its transcript are still there.
    page.goto(f"{site.url}/workspaces/{workspace_id}")
    page.get_by_role("button", name="Stop", exact=True).click()
    page.get_by_role("button", name="Stop workspace").click()
    state = page.get_by_role("heading", level=1).locator(".badge")
    expect(state).to_have_text("stopped", timeout=60_000)
    page.get_by_role("button", name="Start", exact=True).click()
    expect(state).to_have_text("running", timeout=60_000)
    page.reload()  # the chat's tab is restored, and shows the whole transcript
    expect(page.get_by_role("tab", name=re.compile("permission path=flow"))).to_have_attribute(
        "aria-selected", "true"
    )
    transcript = page.get_by_role("tabpanel").get_by_role("region", name="Transcript")
    expect(transcript.get_by_text("Write flow.txt").first).to_be_visible()
    expect(transcript.get_by_text("Write dash.txt").first).to_be_visible()


def test_a_chat_of_a_github_project_opens_its_pull_request(page: Page, web_site: WebSite) -> None:
    """A project on GitHub (the fake one, reached with a token) shows its repository, and its
    chat's header opens a pull request of the agent's edit and then links it."""
    site, github = web_site.site, web_site.github
    github.add_user("octo", name="Octo Cat", email="octo@example.com")
    github.add_repo("acme/webapp", files={"README.md": "webapp\n"})
    token = github.add_personal_token("octo", ["acme/webapp"])
    site.api.call("PUT", "/credentials/gh-web", json={"kind": "github", "value": token}, expect=201)
    site.api.post("/projects", {"name": "webapp", "github": "acme/webapp", "credential": "gh-web"})
    workspace = site.api.post("/workspaces", {"project": "webapp", "node": "n1"})
    site.api.workspace_running(workspace["id"])
    session = site.api.post(
        "/sessions", {"workspace": workspace["id"], "agent": "scripted", "policy": "allow-all"}
    )
    site.wait_state(session["id"], "idle")
    prompt_id = site.prompt(session["id"], "permission path=pr.txt content=from-the-browser")
    assert site.turn(session["id"], prompt_id)["stop_reason"] == "end_turn"

    page.goto(f"{site.url}/projects/webapp")
    expect(page.get_by_text("acme/webapp", exact=True)).to_be_visible()

    page.goto(f"{site.url}/sessions/{session['id']}")
    page.get_by_role("button", name="Open pull request").click()
    form = page.get_by_role("form", name="Open pull request")
    form.get_by_label("Title").fill("From the browser")
    form.get_by_role("button", name="Open pull request").click()
    link = page.get_by_role("link", name=re.compile(r"^acme\/webapp#\d+$"))
    expect(link).to_be_visible()
    pulls = [p for p in github.pulls if p.repo == "acme/webapp"]
    assert [p.title for p in pulls] == ["From the browser"]
    expect(link).to_have_attribute("href", pulls[0].html_url)
    expect(page.get_by_role("button", name="Push to pull request")).to_be_visible()


def _wait_for_file(path: Path, seconds: float = 30.0) -> str:
    return eventually_sync(
        lambda: path.read_text() if path.exists() else None,
        f"{path.name} written",
        wait_seconds=seconds,
    )


@pytest.mark.parametrize("width", sorted(WIDTHS))
def test_every_page_fits_the_width_and_is_saved_as_a_screenshot(
    browser: Browser, web_site: WebSite, width: str
) -> None:
    site = web_site.site
    session = site.start("scripted", title="screenshot chat")
    site.wait_state(session["id"], "idle")
    site.turn(session["id"], site.prompt(session["id"], "all-updates"))
    pages = {
        "dashboard": "/",
        "projects": "/projects",
        "project": "/projects/demo",
        "workspace": f"/workspaces/{site.workspace_id}",
        "session": f"/sessions/{session['id']}",
        "settings": "/settings",
    }
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    viewport = {"width": WIDTHS[width], "height": 900}
    with signed_in(browser, web_site.base, viewport=viewport) as context:
        page = context.pages[0]
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        for name, path in pages.items():
            page.goto(site.url + path)
            expect(page.locator("main h1").first).to_be_visible()
            page.wait_for_load_state("networkidle")
            page.screenshot(path=SCREENSHOTS / f"{name}-{WIDTHS[width]}.png", full_page=True)
            overflow = page.evaluate(
                "document.scrollingElement.scrollWidth - document.scrollingElement.clientWidth"
            )
            assert overflow <= 1, f"{name} is {overflow} px wider than {WIDTHS[width]} px"
        assert errors == []
