import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import type { Invite, User } from "../../api/types.ts";
import { NOW, mockApi, page, renderPage, writes } from "../../testing/api.tsx";
import { UsersSection } from "./UsersSection.tsx";

const owner: User = { id: "usr_1", name: "ada", role: "owner", state: "active", created_at: NOW };
const bob: User = { id: "usr_2", name: "bob", role: "member", state: "invited", created_at: NOW };
const eve: User = { id: "usr_3", name: "eve", role: "member", state: "active", created_at: NOW };
const invite: Invite = {
  id: "lnk_1",
  user: bob,
  created_at: NOW,
  expires_at: "2025-01-08T00:00:00Z",
  revoked_at: null,
};

afterEach(cleanup);

describe("UsersSection", () => {
  it("lists pending invites and revokes one after confirming", async () => {
    let pending = [invite];
    const calls = mockApi({
      "GET /users": page([owner, bob]),
      "GET /users/invites": () => page(pending),
      "DELETE /users/invites/lnk_1": () => {
        pending = [];
        return { body: { ...invite, revoked_at: NOW } };
      },
    });
    const user = userEvent.setup();
    renderPage(<UsersSection />);

    const invites = await screen.findByRole("table", { name: "Pending invites" });
    expect(await within(invites).findByText("bob")).toBeTruthy();
    await user.click(within(invites).getByRole("button", { name: "Revoke the invite for bob" }));
    expect(writes(calls)).toHaveLength(0);
    await user.click(screen.getByRole("button", { name: "Revoke" }));
    await waitFor(() =>
      expect(writes(calls)).toMatchObject([{ method: "DELETE", path: "/users/invites/lnk_1" }]),
    );
    expect(await screen.findByText("No invites waiting.")).toBeTruthy();
  });

  it("disables a member after confirming, saying which sessions were not stopped", async () => {
    let current = eve;
    const calls = mockApi({
      "GET /users": () => page([owner, current]),
      "GET /users/invites": page([]),
      "POST /users/usr_3/disable": () => {
        current = { ...eve, state: "disabled" };
        const session = { agent: "claude", state: "running", node: "n1", created_at: NOW };
        return {
          body: {
            ...current,
            sessions: [
              { ...session, id: "ses_1", workspace: "w1", stop_error: null },
              { ...session, id: "ses_2", workspace: "w2", stop_error: "node n1 is not connected" },
            ],
          },
        };
      },
      "POST /users/usr_3/enable": () => {
        current = eve;
        return { body: { ...eve, sessions: [] } };
      },
    });
    const user = userEvent.setup();
    renderPage(<UsersSection />);

    expect(await screen.findByText("eve")).toBeTruthy();
    // The owner and an invited user have nothing to disable.
    expect(screen.queryByRole("button", { name: "Disable ada" })).toBeNull();
    await user.click(screen.getByRole("button", { name: "Disable eve" }));
    expect(writes(calls)).toHaveLength(0);
    await user.click(screen.getByRole("button", { name: "Disable" }));
    const status = await screen.findByText(/eve is disabled/);
    expect(status.textContent).toContain("Stopped 1 of their 2 running agent sessions.");
    expect(
      screen.getByText(/claude in w2 on n1: not stopped \(node n1 is not connected\)/),
    ).toBeTruthy();

    await user.click(await screen.findByRole("button", { name: "Enable eve" }));
    expect(await screen.findByText(/eve is enabled/)).toBeTruthy();
    expect(writes(calls).map((c) => `${c.method} ${c.path}`)).toEqual([
      "POST /users/usr_3/disable",
      "POST /users/usr_3/enable",
    ]);
  });
});
