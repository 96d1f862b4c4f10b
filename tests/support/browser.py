"""Debian's Chromium driven by Playwright, signed in to a test site: shared by the end-to-end
tests and bench/web.py. Never a downloaded browser: scripts/test-deps.sh installs this one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, sync_playwright

from tests.support.processes import corral_env, run_cli

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",  # tests run as root
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
UI_TIMEOUT_MS = 30_000


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def login_link(site_base: Path) -> str:
    """A one-time login link, made as `corral auth link` makes it on the server of a
    `session_site(site_base, ...)`."""
    made = run_cli(
        "auth",
        "link",
        "--data-dir",
        str(site_base / "data"),
        env=corral_env(site_base / "server-home"),
    )
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


@contextmanager
def signed_in(browser: Browser, site_base: Path, **options: object) -> Iterator[BrowserContext]:
    """A new browser context (its own cookies) signed in through a login link."""
    context = browser.new_context(**options)  # type: ignore[arg-type]
    context.set_default_timeout(UI_TIMEOUT_MS)
    try:
        page = context.new_page()
        page.goto(login_link(site_base))
        page.get_by_role("heading", name="Dashboard").wait_for()
        yield context
    finally:
        context.close()
