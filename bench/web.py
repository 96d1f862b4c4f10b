"""The web app in Chromium: how soon a workspace view is usable, how a 5,000-event chat renders
and scrolls, how soon an agent's update is painted, and how much the first load downloads.

    .venv/bin/python -m bench.web [--events N] [--runs R]

A real `corral serve` and `corral node run` with the scripted ACP agent, and Debian's Chromium
(headless, driven by Playwright) signed in through a login link, at 1280x800:

- workspace view usable: from navigation to the frame after the workspace page's New terminal
  button is enabled (median of R loads), noted in the page;
- chat render: a session whose transcript holds N events (the agent's `chat N` scenario:
  thoughts, edit tool calls with diffs, markdown with code), from navigation to the frame after
  its last message's code block appears (median of R loads), noted in the page;
- scroll: the transcript scrolled from the end to the start in 400 px steps, one per frame (a
  fast fling); frames longer than 1.5 frame budgets (25 ms) count as dropped;
- update to paint: the agent sends 100 chunks at 20 a second, each stamped with its send time;
  the page notes when each is painted (the next animation frame after it is in the DOM);
- first-load bundle: the gzipped size of the scripts and styles index.html loads.

Targets (issue 5): usable <= 1 s, 5,000-event chat <= 1 s and no dropped frames, bundle <= 500
KiB gzipped. Each figure is printed with its ratio to its target.
"""

from __future__ import annotations

import argparse
import gzip
import json
import re
import statistics
import sys
import tempfile
from pathlib import Path

from playwright.sync_api import Page
from tests.support.browser import chromium, signed_in
from tests.support.sessions import (
    SCRIPTED_AGENT,
    SCRIPTED_AGENT_RUNTIME_SETTINGS,
    session_site,
)
from tests.support.waits import eventually_sync

from corral.control import web

TARGET_USABLE_S = 1.0
TARGET_CHAT_RENDER_S = 1.0
TARGET_DROPPED_FRAMES = 0
TARGET_BUNDLE_KIB = 500.0
FRAME_BUDGET_MS = 1000 / 60
SCROLL_STEP_PX = 400
"""A fast fling: 24,000 px a second at 60 frames a second."""
DROPPED_FRAME_MS = 1.5 * FRAME_BUDGET_MS
VIEWPORT = {"width": 1280, "height": 800}
TURN_SECONDS = 600.0

# Installed in the page: a MutationObserver that, for each "<index> <unix time>" chunk appearing
# in the transcript (markdown joins the lines into one paragraph), notes the paint time (the next
# animation frame) minus the send time.
PAINT_PROBE = """
() => {
  window.__paint = [];
  const seen = new Set();
  const region = document.querySelector('[aria-label="Transcript"]');
  new MutationObserver(() => {
    const found = [];
    for (const m of region.innerText.matchAll(/(\\d+) (\\d{10}\\.\\d+)/g)) {
      if (!seen.has(m[1])) { seen.add(m[1]); found.push(Number(m[2])); }
    }
    if (found.length) requestAnimationFrame(() => {
      const now = (performance.timeOrigin + performance.now()) / 1000;
      for (const sent of found) window.__paint.push((now - sent) * 1000);
    });
  }).observe(region, { subtree: true, childList: true, characterData: true });
}
"""

# Scrolls the page from the end to the start, one step a frame, and returns each frame's
# duration in ms.
SCROLL_PROBE = """
async () => {
  // The transcript scrolls with the page (a window virtualiser).
  const scroller = document.scrollingElement;
  scroller.scrollTop = scroller.scrollHeight;
  const frames = [];
  let last = await new Promise(requestAnimationFrame);
  while (scroller.scrollTop > 0) {
    scroller.scrollTop -= %d;
    const now = await new Promise(requestAnimationFrame);
    frames.push(now - last);
    last = now;
  }
  return { frames, height: scroller.scrollHeight };
}
"""


def first_load_bundle_kib() -> float:
    """Gzipped KiB of the scripts and stylesheets index.html itself references."""
    html = web.INDEX.read_text()
    total = 0
    for path in re.findall(r'(?:src|href)="(/assets/[^"]+\.(?:js|css))"', html):
        data = (web.INDEX.parent / path.lstrip("/")).read_bytes()
        total += len(gzip.compress(data, compresslevel=9))
    return total / 1024


# Installed before each page load: notes when (ms since the navigation started) the workspace
# view is usable (its New terminal button enabled) and when the chat's last code block is
# painted, at the animation frame after it appears. Measured in the page, not by polling from
# here, whose retry intervals grow to half a second.
FIRST_PAINT_PROBE = """
(() => {
  const renderTarget = %s;
  const note = (key) => requestAnimationFrame(() => { window[key] ??= performance.now(); });
  new MutationObserver(() => {
    if (window.__usableAt === undefined) {
      const button = [...document.querySelectorAll("button")].find(
        (b) => b.textContent === "New terminal" && !b.disabled);
      if (button) note("__usableAt");
    }
    if (window.__renderedAt === undefined) {
      for (const code of document.querySelectorAll("code")) {
        if (code.textContent.includes(renderTarget)) { note("__renderedAt"); break; }
      }
    }
  }).observe(document, { subtree: true, childList: true, characterData: true, attributes: true });
})();
"""


def time_load(page: Page, url: str, key: str, runs: int) -> list[float]:
    """Seconds from navigation to the moment the probe noted as `key`, for each of `runs` loads."""
    times = []
    for _ in range(runs):
        page.goto("about:blank")
        page.goto(url, wait_until="commit")
        at = eventually_sync(
            lambda: page.evaluate(f"window.{key}"), f"{url}: {key}", wait_seconds=30, interval=0.02
        )
        times.append(at / 1000)
    return times


def verdict(ok: bool) -> str:
    return "meets the target" if ok else "MISSES the target"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not web.INDEX.is_file():
        sys.exit("the web app is not built: run scripts/build-web.sh")

    with tempfile.TemporaryDirectory(prefix="corral-bench-web-") as tmp:
        base = Path(tmp)
        node_env = {"CORRAL_NODE_RUNTIME_SETTINGS": SCRIPTED_AGENT_RUNTIME_SETTINGS}
        with session_site(
            base, {"README.md": "bench\n"}, node_env=node_env, wait_seconds=TURN_SECONDS
        ) as site:
            site.api.post(
                "/agents", {"name": "scripted", "command": [sys.executable, str(SCRIPTED_AGENT)]}
            )
            chat = site.start("scripted", title="long chat")
            site.wait_state(chat["id"], "idle")
            site.turn(chat["id"], site.prompt(chat["id"], f"chat {args.events}"))
            stored = site.session(chat["id"])["last_seq"]

            with chromium() as browser, signed_in(browser, base, viewport=VIEWPORT) as context:
                page = context.pages[0]
                last_step = args.events // 5 - 1
                target = json.dumps(f"step_{last_step}() == {last_step + 1}")
                page.add_init_script(FIRST_PAINT_PROBE % target)
                usable = time_load(
                    page, f"{site.url}/workspaces/{site.workspace_id}", "__usableAt", args.runs
                )
                render = time_load(
                    page, f"{site.url}/sessions/{chat['id']}", "__renderedAt", args.runs
                )
                scroll = page.evaluate(SCROLL_PROBE % SCROLL_STEP_PX)

                live = site.start("scripted", title="paint")
                site.wait_state(live["id"], "idle")
                page.goto(f"{site.url}/sessions/{live['id']}")
                page.get_by_test_id("stream-status").get_by_text("Live").wait_for()
                page.evaluate(PAINT_PROBE)
                site.turn(live["id"], site.prompt(live["id"], "flood 100 rate=20"))
                # Polled from here: wait_for_function evaluates a string in the page, which the
                # app's Content-Security-Policy forbids.
                eventually_sync(
                    lambda: page.evaluate("window.__paint.length") >= 100,
                    "every update painted",
                    wait_seconds=30,
                )
                paints = sorted(page.evaluate("window.__paint"))

    frames = scroll["frames"]
    dropped = sum(1 for f in frames if f > DROPPED_FRAME_MS)
    bundle = first_load_bundle_kib()
    usable_s = statistics.median(usable)
    render_s = statistics.median(render)
    print(f"chat of {stored} events; {args.runs} loads each; Chromium at 1280x800")
    print(
        f"workspace view usable: median {usable_s * 1000:.0f} ms "
        f"(runs: {', '.join(f'{t * 1000:.0f}' for t in usable)}); "
        f"{usable_s / TARGET_USABLE_S:.2f}x the 1 s target: {verdict(usable_s <= TARGET_USABLE_S)}"
    )
    print(
        f"{stored}-event chat rendered: median {render_s * 1000:.0f} ms "
        f"(runs: {', '.join(f'{t * 1000:.0f}' for t in render)}); "
        f"{render_s / TARGET_CHAT_RENDER_S:.2f}x the 1 s target: "
        f"{verdict(render_s <= TARGET_CHAT_RENDER_S)}"
    )
    print(
        f"scroll through {scroll['height']} px: {len(frames)} frames, {dropped} dropped "
        f"(> {DROPPED_FRAME_MS:.0f} ms), "
        f"p95 frame {statistics.quantiles(frames, n=20)[-1]:.1f} ms, "
        f"max {max(frames):.1f} ms: {verdict(dropped <= TARGET_DROPPED_FRAMES)}"
        if len(frames) >= 2
        else f"scroll: the transcript did not scroll ({scroll['height']} px)"
    )
    print(
        f"agent update to paint: p50 {statistics.median(paints):.1f} ms, "
        f"p99 {paints[int(len(paints) * 0.99) - 1]:.1f} ms, max {paints[-1]:.1f} ms "
        f"({len(paints)} updates at 20/s)"
    )
    print(
        f"first-load bundle: {bundle:.1f} KiB gzipped; {bundle / TARGET_BUNDLE_KIB:.2f}x the "
        f"500 KiB target: {verdict(bundle <= TARGET_BUNDLE_KIB)}"
    )


if __name__ == "__main__":
    main()
