import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import type { TerminalInfo } from "../api/types.ts";
import { NOW, mockApi, page, renderPage, writes } from "../testing/api.tsx";
import { demoProject, session, workspace as workspaceFixture } from "../testing/fixtures.ts";
import { WorkspacePage } from "./WorkspacePage.tsx";

// The tabs' contents have their own tests; here they only say which tab they are.
vi.mock("../components/SessionView.tsx", () => ({
  SessionView: ({ sessionId }: { sessionId: string }) => <p>transcript of {sessionId}</p>,
}));
vi.mock("../components/TerminalView.tsx", () => ({
  default: ({ terminalId }: { terminalId: string }) => <p>screen of {terminalId}</p>,
}));

const workspace = workspaceFixture();

const terminal = (id: string): TerminalInfo => ({
  id,
  workspace_id: "wsp_1",
  cols: 80,
  rows: 24,
  created_at: NOW,
  last_attached_at: null,
  exited: false,
  exit_status: null,
  viewers: 0,
});

function api(extra = {}) {
  return mockApi({
    "GET /workspaces/wsp_1": { body: workspace },
    "GET /workspaces/wsp_1/terminals": { body: [terminal("trm_1")] },
    "GET /workspaces/wsp_1/log": { body: { lines: [] } },
    "GET /projects/prj_1": { body: demoProject },
    "GET /sessions": page([
      session({ id: "ses_live", title: "live chat", state: "idle" }),
      session({ id: "ses_old", title: "old chat", state: "stopped" }),
    ]),
    ...extra,
  });
}

const open = { path: "/workspaces/:id", url: "/workspaces/wsp_1" };

beforeEach(() => localStorage.clear());
afterEach(cleanup);

describe("WorkspacePage", () => {
  it("first opens the live terminals and chats, and lists the others", async () => {
    api();
    renderPage(<WorkspacePage />, open);
    const tabs = await screen.findByRole("tablist", { name: "Terminals and chats" });
    await waitFor(() =>
      expect(
        within(tabs)
          .getAllByRole("tab")
          .map((t) => t.textContent),
      ).toEqual(["Terminal 1", "live chat"]),
    );
    expect(await screen.findByText("screen of trm_1")).toBeTruthy();
    const closed = screen.getByRole("region", { name: "Closed tabs" });
    expect(within(closed).getByRole("button", { name: "old chat" })).toBeTruthy();
  });

  it("restores the tabs and the shown one after a reload", async () => {
    localStorage.setItem(
      "corral.workspace-tabs.wsp_1",
      JSON.stringify({ open: ["chat:ses_old", "chat:gone"], active: "chat:ses_old" }),
    );
    api();
    renderPage(<WorkspacePage />, open);
    const tab = await screen.findByRole("tab", { name: "old chat" });
    expect(tab.getAttribute("aria-selected")).toBe("true");
    expect(await screen.findByText("transcript of ses_old")).toBeTruthy();
    // A chat that no longer exists is dropped; the terminal stays closed, listed below.
    await waitFor(() => expect(screen.getAllByRole("tab")).toHaveLength(1));
    const closed = screen.getByRole("region", { name: "Closed tabs" });
    expect(within(closed).getByRole("button", { name: "Terminal 1" })).toBeTruthy();
  });

  it("moves between tabs with the arrow keys", async () => {
    api();
    const user = userEvent.setup();
    renderPage(<WorkspacePage />, open);
    const first = await screen.findByRole("tab", { name: "Terminal 1" });
    await waitFor(() => expect(screen.getAllByRole("tab")).toHaveLength(2));
    first.focus();
    await user.keyboard("{ArrowRight}");
    const second = screen.getByRole("tab", { name: "live chat" });
    expect(second.getAttribute("aria-selected")).toBe("true");
    expect(document.activeElement).toBe(second);
  });

  it("deletes only after the question is answered, then goes to the project", async () => {
    const calls = api({ "DELETE /workspaces/wsp_1": { status: 204 } });
    const user = userEvent.setup();
    renderPage(<WorkspacePage />, open);
    await user.click(await screen.findByRole("button", { name: "Delete demo-1" }));
    expect(writes(calls)).toEqual([]);
    await user.click(screen.getByRole("button", { name: "Delete workspace" }));
    await waitFor(() => expect(screen.getByTestId("location").textContent).toBe("/projects/prj_1"));
    expect(writes(calls).map((c) => `${c.method} ${c.path}`)).toEqual(["DELETE /workspaces/wsp_1"]);
  });

  it("says why a workspace waits for a node, and what it will ask of one", async () => {
    api({
      "GET /workspaces/wsp_1": {
        body: {
          ...workspace,
          state: "pending",
          state_reason: "no node has 2 CPUs free",
          runtime: "auto",
          limits: { cpus: 2, memory_bytes: null, pids: null },
        },
      },
    });
    renderPage(<WorkspacePage />, open);
    const waiting = await screen.findByText("Waiting for a node: no node has 2 CPUs free");
    expect(waiting.getAttribute("role")).toBe("status");
    expect(screen.getByText("2 CPUs")).toBeTruthy();
    expect(screen.getByText("auto (chosen when placed)")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Rebuild" })).toBeNull();
  });

  it("offers a rebuild with the default image after a failed build", async () => {
    const failed = {
      ...workspace,
      runtime: "devcontainer",
      state: "error" as const,
      state_reason: "the devcontainer build failed: no such image: acme/base",
    };
    const calls = api({
      "GET /workspaces/wsp_1": { body: failed },
      "POST /workspaces/wsp_1/rebuild": { body: { ...failed, state: "rebuilding" } },
    });
    const user = userEvent.setup();
    renderPage(<WorkspacePage />, open);
    expect(await screen.findByRole("button", { name: "Rebuild" })).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "Rebuild with the default image" }));
    expect(writes(calls)).toEqual([]);
    const confirm = screen.getByRole("group", { name: "Rebuild with the default image" });
    await user.click(
      within(confirm).getByRole("button", { name: "Rebuild with the default image" }),
    );
    await waitFor(() => expect(writes(calls)).toHaveLength(1));
    expect(writes(calls)[0]).toMatchObject({
      method: "POST",
      path: "/workspaces/wsp_1/rebuild",
      body: { default_image: true },
    });
  });

  it("has no rebuild for a host workspace, which has no container", async () => {
    api();
    renderPage(<WorkspacePage />, open);
    await screen.findByRole("button", { name: "Stop" });
    expect(screen.queryByRole("button", { name: "Rebuild" })).toBeNull();
  });

  it("follows the build's log while rebuilding", async () => {
    api({
      "GET /workspaces/wsp_1": {
        body: { ...workspace, runtime: "devcontainer", state: "rebuilding" },
      },
      "GET /workspaces/wsp_1/log": { body: { lines: ["Step 1/2 : FROM debian"] } },
    });
    renderPage(<WorkspacePage />, open);
    const log = await screen.findByTestId("provisioning-log");
    await waitFor(() => expect(log.textContent).toBe("Step 1/2 : FROM debian"));
    expect(screen.getByText("(following)")).toBeTruthy();
  });

  it("names the workspace's project in the breadcrumb, linking to it", async () => {
    api();
    renderPage(<WorkspacePage />, open);
    const crumb = await screen.findByRole("link", { name: "demo" });
    expect(crumb.getAttribute("href")).toBe("/projects/prj_1");
  });
});
