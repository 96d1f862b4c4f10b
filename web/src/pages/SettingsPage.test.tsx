import { cleanup, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import type { User } from "../api/types.ts";
import { NOW, mockApi, page, renderPage } from "../testing/api.tsx";
import { githubNotSetUp } from "../testing/fixtures.ts";
import { SettingsPage } from "./SettingsPage.tsx";

const user = (role: User["role"]): User => ({
  id: "usr_1",
  name: "ada",
  role,
  state: "active",
  created_at: NOW,
});

const lists = {
  "GET /credentials": page([]),
  "GET /agents": { body: [] },
  "GET /nodes": page([]),
  "GET /tokens": page([]),
  "GET /providers": { body: [{ name: "manual", kind: "manual", credential_kind: null }] },
  "GET /github": { body: githubNotSetUp },
};

afterEach(cleanup);

describe("SettingsPage", () => {
  it("shows users and invites to the owner", async () => {
    const calls = mockApi({
      ...lists,
      "GET /me": { body: user("owner") },
      "GET /users": page([user("owner")]),
      "GET /users/invites": page([]),
    });
    renderPage(<SettingsPage />);
    expect(await screen.findByRole("heading", { name: "Users" })).toBeTruthy();
    expect(await screen.findByRole("button", { name: "Create invite link" })).toBeTruthy();
    expect(screen.getByLabelText("Node name")).toBeTruthy();
    expect(calls.some((c) => c.path === "/users")).toBe(true);
  });

  it("hides users, invites and node changes from a member", async () => {
    const calls = mockApi({ ...lists, "GET /me": { body: user("member") } });
    renderPage(<SettingsPage />);
    expect(
      await screen.findByText(
        "Only the owner adds nodes by hand, and no provider is enabled to make one.",
      ),
    ).toBeTruthy();
    expect(screen.queryByRole("heading", { name: "Users" })).toBeNull();
    expect(calls.some((c) => c.path === "/users")).toBe(false);
  });
});
