import { cleanup, screen, within } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import type { Spend, User } from "../api/types.ts";
import { NOW, mockApi, renderPage } from "../testing/api.tsx";
import { CloudSpend } from "./CloudSpend.tsx";

const me = (role: User["role"]): User => ({
  id: "usr_ada",
  name: "ada",
  role,
  state: "active",
  created_at: NOW,
});

const spend = (user: string, changes: Partial<Spend> = {}): Spend => ({
  user_id: `usr_${user}`,
  user_name: user,
  currency: "EUR",
  this_month: 1.5,
  per_hour_now: 0.0074,
  ...changes,
});

afterEach(cleanup);

describe("CloudSpend", () => {
  it("adds up this month's spend per currency, and shows the owner each user's", async () => {
    mockApi({
      "GET /me": { body: me("owner") },
      "GET /costs": {
        body: [
          spend("ada"),
          spend("bob", { this_month: 2.25, per_hour_now: 0 }),
          spend("bob", { currency: "USD", this_month: 3, per_hour_now: 0.01 }),
        ],
      },
    });
    renderPage(<CloudSpend />);
    const figure = await screen.findByRole("region", { name: "Cloud spend this month" });
    // One line per currency, each with its users' lines inside.
    const [euros, dollars] = figure.querySelectorAll<HTMLElement>(":scope > ul > li");
    expect(euros?.textContent).toMatch(/^€3\.75 now €0\.0074\/h/);
    expect(within(euros!).getByText("ada: €1.50")).toBeTruthy();
    expect(within(euros!).getByText("bob: €2.25")).toBeTruthy();
    expect(dollars?.textContent).toMatch(/^\$3\.00 now \$0\.01\/h/);
  });

  it("shows a member their own spend alone", async () => {
    mockApi({ "GET /me": { body: me("member") }, "GET /costs": { body: [spend("ada")] } });
    renderPage(<CloudSpend />);
    const figure = await screen.findByRole("region", { name: "Cloud spend this month" });
    expect(within(figure).getByText("€1.50")).toBeTruthy();
    expect(within(figure).queryByText(/ada/)).toBeNull();
  });

  it("shows nothing while nothing costs anything", async () => {
    const calls = mockApi({
      "GET /me": { body: me("owner") },
      "GET /costs": { body: [spend("ada", { this_month: 0, per_hour_now: 0 })] },
    });
    const { container } = renderPage(<CloudSpend />);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(calls.some((c) => c.path === "/costs")).toBe(true);
    expect(container.textContent).toBe("");
  });
});
