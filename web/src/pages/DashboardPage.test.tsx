import { cleanup, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import type { Session } from "../api/types.ts";
import { mockApi, page, renderPage } from "../testing/api.tsx";
import { DashboardPage } from "./DashboardPage.tsx";

const HOUR = 60 * 60 * 1000;

function session(id: string, title: string, state: Session["state"], changedMsAgo: number) {
  const at = new Date(Date.now() - changedMsAgo).toISOString();
  return {
    id,
    workspace_id: "wsp_1",
    project_id: "prj_1",
    agent: "claude",
    title,
    policy: "ask",
    state,
    state_reason: null,
    state_changed_at: at,
    acp_session_id: null,
    model: null,
    mode: null,
    last_seq: 3,
    last_message: null,
    usage: null,
    agent_info: null,
    created_at: at,
    updated_at: at,
  } satisfies Session;
}

afterEach(cleanup);

describe("DashboardPage", () => {
  it("lists running sessions and recent failures, not old ones", async () => {
    const calls = mockApi({
      "GET /nodes": page([]),
      "GET /workspaces": page([]),
      "GET /permission-requests": page([]),
      "GET /activity": page([]),
      "GET /sessions": page([
        session("ses_1", "fixing the parser", "running", 1000),
        session("ses_2", "crashed this morning", "error", 2 * HOUR),
        session("ses_3", "crashed last week", "error", 7 * 24 * HOUR),
      ]),
    });
    renderPage(<DashboardPage />);
    expect(await screen.findByRole("link", { name: "fixing the parser" })).toBeTruthy();
    expect(screen.getByRole("link", { name: "crashed this morning" })).toBeTruthy();
    expect(screen.queryByRole("link", { name: "crashed last week" })).toBeNull();
    const asked = calls.find((c) => c.path === "/sessions");
    expect(asked?.query.getAll("state")).toContain("error");
  });
});
