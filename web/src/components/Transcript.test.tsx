import { QueryClient, QueryClientProvider } from "@tanstack/react-query";
import { act, cleanup, render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import type { ReactNode } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { applyEvents, type Transcript as Model } from "../lib/transcript.ts";
import { ALLOW_REJECT, eventMaker, fold, longChat } from "./chat/fixtures.ts";
import { Transcript } from "./Transcript.tsx";

function wrapper({ children }: { children: ReactNode }) {
  return <QueryClientProvider client={new QueryClient()}>{children}</QueryClientProvider>;
}

function show(t: Model, canAnswer = true) {
  return render(<Transcript items={t.items} canAnswer={canAnswer} />, { wrapper });
}

beforeEach(() => {
  // jsdom has no scrolling; the list scrolls the window to follow new rows.
  vi.spyOn(window, "scrollTo").mockImplementation(() => {});
});

afterEach(cleanup);

describe("Transcript", () => {
  it("renders every kind of update and event", async () => {
    const e = eventMaker();
    const t = fold([
      e("install", { line: "added 12 packages" }),
      e("notice", {
        code: "agent_ready",
        message: "ready",
        modes: { currentModeId: "default", availableModes: [{ id: "plan", name: "Plan" }] },
      }),
      e("prompt", { prompt_id: "p", text: "Fix the bug", resources: ["src/a.ts"] }),
      e.text("user", "replayed question"),
      e.text("thought", "I should look first."),
      e.text("agent", "Looking at **it** now."),
      e.update({
        sessionUpdate: "tool_call",
        toolCallId: "t1",
        title: "Read a.ts",
        kind: "read",
        status: "completed",
        locations: [{ path: "/w/src/a.ts", line: 12 }],
        content: [{ type: "content", content: { type: "text", text: "file *contents*" } }],
      }),
      e.update({
        sessionUpdate: "plan",
        entries: [{ content: "Read the code", status: "completed", priority: "high" }],
      }),
      e.update({ sessionUpdate: "usage_update", used: 100, size: 1000 }),
      e.update({ sessionUpdate: "current_mode_update", currentModeId: "plan" }),
      e.update({
        sessionUpdate: "available_commands_update",
        availableCommands: [{ name: "review", description: "Review the changes" }],
      }),
      e.text("agent", "."),
      e.update({
        sessionUpdate: "config_option_update",
        configOptions: [
          {
            id: "model",
            name: "Model",
            type: "select",
            currentValue: "s",
            options: [{ value: "s", name: "Sonnet" }],
          },
        ],
      }),
      e.update({ sessionUpdate: "session_info_update", title: "Bug hunt" }),
      e.update({ sessionUpdate: "hologram_update", beam: 1 }),
      e("terminal", {
        terminal_id: "trm",
        command: ["ls"],
        output: "\x1b[1ma.ts\x1b[0m\n",
        truncated: false,
        exit_status: { exitCode: 2, signal: null },
      }),
      e("turn_end", {
        prompt_id: "p",
        stop_reason: "end_turn",
        usage: { totalTokens: 1500, inputTokens: 1200, outputTokens: 300 },
      }),
      e("state", { state: "error", reason: "the agent exited", stderr: ["boom"] }),
    ]);
    show(t);

    expect(screen.getByRole("button", { name: /Installing the agent \(1 lines\)/ })).toBeTruthy();
    expect(screen.queryByText("ready")).toBeNull(); // agent_ready is bookkeeping
    expect(screen.getByText("Fix the bug")).toBeTruthy();
    expect(screen.getByText("src/a.ts")).toBeTruthy();
    expect(screen.getByText("replayed question")).toBeTruthy();
    // A thought followed by a message is collapsed.
    const thinking = screen.getByRole("button", { name: /Thinking/ });
    expect(thinking.getAttribute("aria-expanded")).toBe("false");
    expect(screen.queryByText("I should look first.")).toBeNull();
    expect(screen.getByText("it").tagName).toBe("STRONG");
    const tool = screen.getByRole("article", { name: "Tool call: Read a.ts" });
    expect(within(tool).getByText("/w/src/a.ts:12")).toBeTruthy();
    expect(within(tool).getByText("contents").tagName).toBe("EM");
    expect(within(tool).getByText("completed")).toBeTruthy();
    expect(screen.getByRole("region", { name: "Plan" })).toBeTruthy();
    expect(screen.getByText("Plan", { selector: "strong" })).toBeTruthy(); // the mode's name
    expect(screen.getByRole("button", { name: "1 command available" })).toBeTruthy();
    expect(screen.getByText("Sonnet")).toBeTruthy();
    expect(screen.getByText("Bug hunt")).toBeTruthy();
    expect(screen.getByText("hologram_update")).toBeTruthy();
    const terminal = screen.getByRole("button", { name: /\$ ls/ });
    expect(terminal.textContent).toContain("exit 2");
    await userEvent.click(terminal);
    expect(screen.getByText("a.ts", { selector: "pre" })).toBeTruthy(); // escapes dropped
    expect(screen.getByText("Turn ended")).toBeTruthy();
    expect(screen.getByText("· 1.2K in / 300 out")).toBeTruthy();
    expect(screen.getByText("Session error: the agent exited")).toBeTruthy();
    expect(screen.getByText("boom")).toBeTruthy();
  });

  it("shows an unknown update as a muted row with its JSON on request", async () => {
    const e = eventMaker();
    show(fold([e.update({ sessionUpdate: "telepathy_update", thought: "hmm" })]));
    const row = screen.getByRole("button", { name: "unknown update telepathy_update" });
    expect(screen.queryByText(/"thought": "hmm"/)).toBeNull();
    await userEvent.click(row);
    expect(screen.getByText(/"thought": "hmm"/)).toBeTruthy();
  });

  it("updates a tool call card in place", () => {
    const e = eventMaker();
    const first = fold([
      e.update({
        sessionUpdate: "tool_call",
        toolCallId: "t1",
        title: "Run tests",
        kind: "execute",
        status: "in_progress",
        content: [{ type: "terminal", terminalId: "trm1" }],
      }),
    ]);
    const view = show(first);
    const card = screen.getByRole("article", { name: "Tool call: Run tests" });
    expect(within(card).getByText("in progress")).toBeTruthy();
    expect(within(card).getByText(/waiting for the command to start/)).toBeTruthy();

    // The node reports the command as it runs: its start, then what it printed since.
    const running = applyEvents(first, [
      e("terminal", { terminal_id: "trm1", command: ["pytest"], running: true, append: "" }),
      e("terminal", { terminal_id: "trm1", running: true, append: "collected 3 items\n" }),
      e("terminal", { terminal_id: "trm1", running: true, append: "..." }),
    ]);
    view.rerender(<Transcript items={running.items} canAnswer />);
    expect(within(card).getByText("(running…)")).toBeTruthy();
    expect(within(card).getByText(/collected 3 items\s+\.\.\./)).toBeTruthy();

    const second = applyEvents(running, [
      e("terminal", {
        terminal_id: "trm1",
        command: ["pytest"],
        output: "3 passed",
        truncated: false,
        exit_status: { exitCode: 0, signal: null },
        running: false,
      }),
      e.update({ sessionUpdate: "tool_call_update", toolCallId: "t1", status: "completed" }),
    ]);
    view.rerender(<Transcript items={second.items} canAnswer />);
    expect(screen.getAllByRole("article")).toHaveLength(1);
    expect(screen.getByRole("article", { name: "Tool call: Run tests" })).toBe(card);
    expect(within(card).getByText("completed")).toBeTruthy();
    expect(within(card).getByText("3 passed")).toBeTruthy();
    expect(within(card).queryByText(/collected 3 items/)).toBeNull(); // the whole output replaces it
    expect(card.className).toContain("tool-completed");
  });

  it("renders a tool call first seen in a permission request, with its options", () => {
    const e = eventMaker();
    const asked = fold([
      e("permission_request", {
        request_id: "prm1",
        tool_call: {
          toolCallId: "g1",
          title: "WriteFile notes.txt",
          kind: "edit",
          locations: [{ path: "/w/notes.txt" }],
          content: [{ type: "diff", path: "/w/notes.txt", oldText: null, newText: "hi\n" }],
        },
        options: ALLOW_REJECT,
      }),
    ]);
    const view = show(asked);
    const card = screen.getByRole("article", { name: "Tool call: WriteFile notes.txt" });
    expect(within(card).getByText("new file")).toBeTruthy();
    const answers = within(card).getByRole("group", { name: "Answer: WriteFile notes.txt" });
    expect(
      within(answers)
        .getAllByRole("button")
        .map((b) => b.textContent),
    ).toEqual(["Allow", "Always allow", "Reject"]);

    const decided = applyEvents(asked, [
      e("permission_decision", {
        request_id: "prm1",
        outcome: "selected",
        option_id: "allow",
        by: null,
        policy: "allow-edits",
      }),
    ]);
    view.rerender(<Transcript items={decided.items} canAnswer />);
    expect(within(card).queryByRole("group", { name: /Answer/ })).toBeNull();
    expect(within(card).getByText(/Answered “Allow” \(policy allow-edits\)/)).toBeTruthy();
  });

  it("shows a request's state when it cannot be answered here or was cancelled", () => {
    const e = eventMaker();
    const t = fold([
      e.update({
        sessionUpdate: "tool_call",
        toolCallId: "a",
        title: "Delete it",
        kind: "delete",
      }),
      e.text("agent", "Asking…"),
      e("permission_request", {
        request_id: "r1",
        tool_call: { toolCallId: "a" },
        options: ALLOW_REJECT,
      }),
      e("permission_request", {
        request_id: "r2",
        tool_call: { toolCallId: "b", title: "Move it" },
        options: ALLOW_REJECT,
      }),
      e("permission_decision", {
        request_id: "r2",
        outcome: "cancelled",
        option_id: null,
        by: null,
        policy: "cancelled",
      }),
    ]);
    show(t, false);
    const request = screen.getByRole("article", { name: "Permission request: Delete it" });
    expect(within(request).getByText("Not answered.")).toBeTruthy();
    expect(within(request).queryByRole("button")).toBeNull();
    const moved = screen.getByRole("article", { name: "Tool call: Move it" });
    expect(within(moved).getByText(/Cancelled: the turn was cancelled/)).toBeTruthy();
  });

  it("shows a request its session's end cancelled as cancelled, not waiting", () => {
    const e = eventMaker();
    const t = fold([
      e("permission_request", {
        request_id: "r1",
        tool_call: { toolCallId: "a", title: "Write notes.txt", kind: "edit" },
        options: ALLOW_REJECT,
      }),
      e("state", { state: "stopped", reason: "stopped" }),
      e("permission_decision", {
        request_id: "r1",
        outcome: "cancelled",
        option_id: null,
        by: null,
        policy: "session ended",
      }),
    ]);
    show(t, false);
    const asked = screen.getByRole("article", { name: /Write notes\.txt/ });
    expect(within(asked).getByText(/Cancelled: the session ended\./)).toBeTruthy();
    expect(within(asked).queryByText("Not answered.")).toBeNull();
  });

  it("renders the plan as a checklist", () => {
    const e = eventMaker();
    show(
      fold([
        e.update({
          sessionUpdate: "plan",
          entries: [
            { content: "Read the code", status: "completed", priority: "high" },
            { content: "Write the fix", status: "in_progress", priority: "medium" },
            { content: "Run the tests", status: "pending", priority: "low" },
          ],
        }),
      ]),
    );
    const plan = screen.getByRole("region", { name: "Plan" });
    expect(within(plan).getByText("1/3 done")).toBeTruthy();
    const entries = within(plan).getAllByRole("listitem");
    expect(entries.map((li) => li.className)).toEqual([
      "plan-entry plan-completed",
      "plan-entry plan-in_progress",
      "plan-entry plan-pending",
    ]);
    expect(entries[1]!.textContent).toBe("◐in progress: Write the fixmedium");
  });

  it("renders an agent's markdown with a highlighted code block and safe links", () => {
    const e = eventMaker();
    show(
      fold([
        e.text("agent", "See [the docs](https://example.com) and run:\n\n```python\n"),
        e.text("agent", "def f():\n    return 1\n```\n\n<b>not bold</b>"),
      ]),
    );
    const link = screen.getByRole("link", { name: "the docs" });
    expect(link.getAttribute("target")).toBe("_blank");
    expect(link.getAttribute("rel")).toBe("noreferrer noopener");
    const code = document.querySelector("code.language-python")!;
    expect(code.querySelector(".hljs-keyword")?.textContent).toBe("def");
    expect(code.textContent).toBe("def f():\n    return 1");
    expect(document.querySelector(".markdown b")).toBeNull();
    expect(screen.getByText(/<b>not bold<\/b>/)).toBeTruthy();
  });

  it("keeps a thought open while it streams and collapses it when the reply starts", async () => {
    const e = eventMaker();
    const thinking = fold([e.text("thought", "Considering options")]);
    const view = show(thinking);
    expect(screen.getByRole("button", { name: /Thinking/ }).getAttribute("aria-expanded")).toBe(
      "true",
    );
    expect(screen.getByText("Considering options")).toBeTruthy();

    const replying = applyEvents(thinking, [e.text("agent", "Here it is.")]);
    view.rerender(<Transcript items={replying.items} canAnswer />);
    const toggle = screen.getByRole("button", { name: /Thinking/ });
    expect(toggle.getAttribute("aria-expanded")).toBe("false");
    expect(screen.queryByText("Considering options")).toBeNull();
    await userEvent.click(toggle);
    expect(screen.getByText("Considering options")).toBeTruthy();
  });

  it("renders a 5,000-event chat as a virtualised list of a few rows", () => {
    const events = longChat(5000);
    const t = fold(events);
    show(t);
    const rows = document.querySelectorAll("ol.transcript > li");
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(100);
    expect(rows.length).toBeLessThan(t.items.length);
    // The list is as tall as all its rows would be, so the page scrolls through them all.
    const list = document.querySelector<HTMLElement>("ol.transcript")!;
    expect(parseFloat(list.style.height)).toBeGreaterThan(t.items.length * 30);
  });

  it("follows new rows while the page is at its end, and stays put when scrolled up", () => {
    // jsdom has no layout: give the page a height and move its scroll position by hand.
    const height = Object.getOwnPropertyDescriptor(document.documentElement, "scrollHeight");
    const scrollY = Object.getOwnPropertyDescriptor(window, "scrollY");
    Object.defineProperty(document.documentElement, "scrollHeight", {
      configurable: true,
      get: () => 5000,
    });
    const scrollTo = vi.mocked(window.scrollTo);
    const scrollPage = (y: number) => {
      Object.defineProperty(window, "scrollY", { configurable: true, value: y });
      act(() => void window.dispatchEvent(new Event("scroll")));
      scrollTo.mockClear();
    };
    try {
      const e = eventMaker();
      const ask = (text: string) => e("prompt", { prompt_id: text, text, resources: [] });
      let t = fold(Array.from({ length: 50 }, (_, i) => ask(`question ${i}`)));
      const view = show(t);

      scrollPage(0); // the user scrolled up to the top
      t = applyEvents(t, [ask("while reading")]);
      view.rerender(<Transcript items={t.items} canAnswer />);
      expect(scrollTo).not.toHaveBeenCalled();

      scrollPage(5000 - window.innerHeight); // back at the end
      t = applyEvents(t, [ask("at the end")]);
      view.rerender(<Transcript items={t.items} canAnswer />);
      expect(scrollTo).toHaveBeenCalledWith(
        expect.objectContaining({ top: 5000 - window.innerHeight }),
      );
    } finally {
      delete (document.documentElement as { scrollHeight?: number }).scrollHeight;
      if (height) Object.defineProperty(document.documentElement, "scrollHeight", height);
      if (scrollY) Object.defineProperty(window, "scrollY", scrollY);
      else delete (window as { scrollY?: number }).scrollY;
    }
  });
});
