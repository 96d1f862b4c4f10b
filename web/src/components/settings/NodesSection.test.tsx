import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import type { Node } from "../../api/types.ts";
import { NodesSection } from "./NodesSection.tsx";
import { NOW, mockApi, page, renderPage, writes } from "../../testing/api.tsx";
import { cloudNode, readyNode } from "../../testing/fixtures.ts";

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

  it("lets a member remove their own node, not the owner's, and add no manual one", async () => {
    mockApi({
      "GET /nodes": page([node, cloudNode({ user_id: "usr_ada" })]),
      "GET /providers": { body: [{ name: "manual", kind: "manual", credential_kind: null }] },
    });
    renderPage(<NodesSection isOwner={false} userId="usr_ada" />);
    expect(await screen.findByText("box-1")).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Remove box-1" })).toBeNull();
    expect(screen.getByRole("button", { name: "Remove cloud-1" })).toBeTruthy();
    expect(screen.queryByLabelText("Node name")).toBeNull();
  });

  it("says what removing a cloud or SSH node does at its provider", async () => {
    const cloud = cloudNode({ state: "ready" });
    const ssh = readyNode({
      id: "nod_ssh",
      name: "build-box",
      provider: "ssh",
      options: { host: "build.example.com", port: 22, user: "root" },
    });
    const calls = mockApi({
      "GET /nodes": page([
        cloud,
        ssh,
        cloudNode({ id: "nod_gone", name: "gone-1", state: "deleting" }),
      ]),
      "DELETE /nodes/nod_cloud": { body: { ...cloud, state: "deleting" } },
    });
    const user = userEvent.setup();
    renderPage(<NodesSection isOwner />);

    await user.click(await screen.findByRole("button", { name: "Remove cloud-1" }));
    expect(
      screen.getByText(
        "Remove cloud-1? Its machine is deleted at hetzner, with everything on it, and its " +
          "bill ends; its workspaces lose their node.",
      ),
    ).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "Remove build-box" }));
    expect(
      screen.getByText(
        "Remove build-box? The node is uninstalled from root@build.example.com (the server " +
          "itself stays); its workspaces lose their node.",
      ),
    ).toBeTruthy();
    // One being removed already offers nothing more.
    expect(screen.queryByRole("button", { name: "Remove gone-1" })).toBeNull();

    await user.click(
      within(screen.getByRole("group", { name: "Remove cloud-1" })).getByRole("button", {
        name: "Remove",
      }),
    );
    await waitFor(() =>
      expect(writes(calls)).toMatchObject([{ method: "DELETE", path: "/nodes/nod_cloud" }]),
    );
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
