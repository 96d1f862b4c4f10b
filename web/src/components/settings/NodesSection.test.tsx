import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import type { Node } from "../../api/types.ts";
import { NodesSection } from "./NodesSection.tsx";
import { NOW, mockApi, page, renderPage, writes } from "../../testing/api.tsx";
import { readyNode } from "../../testing/fixtures.ts";

const node: Node = readyNode();

const COMMAND =
  "CORRAL_NODE_JOIN_TOKEN=crn_secret123 corral node run --control-url https://corral.example";

afterEach(cleanup);

describe("NodesSection", () => {
  it("lists nodes with state and load, and shows the join command once", async () => {
    const calls = mockApi({
      "GET /nodes": page([node]),
      "POST /nodes": {
        status: 201,
        body: {
          node: { ...node, id: "nod_2", name: "box-2", state: "pending" },
          join_token: "crn_secret123",
          join_command: COMMAND,
          expires_at: NOW,
        },
      },
    });
    const user = userEvent.setup();
    renderPage(<NodesSection isOwner />);

    expect(await screen.findByText("box-1")).toBeTruthy();
    expect(screen.getByText("1.50 / 8 CPUs")).toBeTruthy();
    expect(screen.getByText("ready")).toBeTruthy();

    await user.type(screen.getByLabelText("Node name"), "box-2");
    await user.click(screen.getByRole("button", { name: "Add node" }));
    const shown = await screen.findByRole("region", { name: "Join box-2" });
    expect(within(shown).getByText(COMMAND)).toBeTruthy();
    expect(writes(calls)[0]).toMatchObject({
      method: "POST",
      path: "/nodes",
      body: { name: "box-2" },
    });

    await user.click(within(shown).getByRole("button", { name: "Done" }));
    expect(document.body.textContent).not.toContain("crn_secret123");
  });

  it("removes a node after confirming", async () => {
    const calls = mockApi({
      "GET /nodes": page([node]),
      "DELETE /nodes/nod_1": { body: { ...node, state: "deleted" } },
    });
    const user = userEvent.setup();
    renderPage(<NodesSection isOwner />);
    await user.click(await screen.findByRole("button", { name: "Remove box-1" }));
    expect(writes(calls)).toHaveLength(0);
    await user.click(screen.getByRole("button", { name: "Remove" }));
    await waitFor(() =>
      expect(writes(calls)).toMatchObject([{ method: "DELETE", path: "/nodes/nod_1" }]),
    );
  });

  it("offers no add or remove to a member", async () => {
    mockApi({ "GET /nodes": page([node]) });
    renderPage(<NodesSection isOwner={false} />);
    expect(await screen.findByText("box-1")).toBeTruthy();
    expect(screen.queryByLabelText("Node name")).toBeNull();
    expect(screen.queryByRole("button", { name: /Remove/ })).toBeNull();
  });

  it("shows a new join command, once, for a node that has not joined", async () => {
    const pending: Node = { ...node, id: "nod_2", name: "box-2", state: "pending" };
    const calls = mockApi({
      "GET /nodes": page([node, pending]),
      "POST /nodes/nod_2/join-token": {
        status: 201,
        body: {
          node: pending,
          join_token: "crn_secret123",
          join_command: COMMAND,
          expires_at: NOW,
        },
      },
    });
    const user = userEvent.setup();
    renderPage(<NodesSection isOwner />);

    expect(await screen.findByText("box-2")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "New join command for box-1" })).toBeNull();
    await user.click(screen.getByRole("button", { name: "New join command for box-2" }));
    const shown = await screen.findByRole("region", { name: "Join box-2" });
    expect(within(shown).getByText(COMMAND)).toBeTruthy();
    expect(writes(calls)).toMatchObject([{ method: "POST", path: "/nodes/nod_2/join-token" }]);
    await user.click(within(shown).getByRole("button", { name: "Done" }));
    expect(document.body.textContent).not.toContain("crn_secret123");
  });
});
