import { cleanup, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import type { Session } from "../api/types.ts";
import { mockApi, page, renderPage } from "../testing/api.tsx";
import { session } from "../testing/fixtures.ts";
import { DashboardPage } from "./DashboardPage.tsx";

const HOUR = 60 * 60 * 1000;

function changed(id: string, title: string, state: Session["state"], msAgo: number): Session {
  const at = new Date(Date.now() - msAgo).toISOString();
  return session({ id, title, state, state_changed_at: at, created_at: at, updated_at: at });
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
        changed("ses_1", "fixing the parser", "running", 1000),
        changed("ses_2", "crashed this morning", "error", 2 * HOUR),
        changed("ses_3", "crashed last week", "error", 7 * 24 * HOUR),
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
