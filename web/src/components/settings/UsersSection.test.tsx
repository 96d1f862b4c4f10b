import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import type { Invite, User } from "../../api/types.ts";
import { NOW, mockApi, page, renderPage, writes } from "../../testing/api.tsx";
import { UsersSection } from "./UsersSection.tsx";

const owner: User = { id: "usr_1", name: "ada", role: "owner", state: "active", created_at: NOW };
const bob: User = { id: "usr_2", name: "bob", role: "member", state: "invited", created_at: NOW };
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
});
