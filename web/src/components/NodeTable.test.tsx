import { cleanup, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import type { Node, NodeIsolation } from "../api/types.ts";
import { mockApi, page, renderPage } from "../testing/api.tsx";
import { readyNode } from "../testing/fixtures.ts";
import { NodeTable } from "./NodeTable.tsx";

const isolated: NodeIsolation = {
  sandbox: "bwrap",
  user: "workspace_uid",
  network: "isolated",
  file_access: "openat2",
  problems: [],
};

function node(name: string, isolation?: NodeIsolation): Node {
  return readyNode({ id: `nod_${name}`, name, capacity: { cpus: 4, isolation } });
}

const row = (name: string) => screen.getByRole("row", { name: new RegExp(`^${name} `) });

afterEach(cleanup);

describe("NodeTable", () => {
  it("shows each node's sandbox, its detail, and what it lacks", async () => {
    mockApi({
      "GET /nodes": page([
        node("cloud", isolated),
        node("laptop", {
          ...isolated,
          user: "user_namespace",
          network: "host",
          problems: ["slirp4netns is not installed: workspaces share the host's network"],
        }),
        node("old-box", {
          ...isolated,
          sandbox: "none",
          user: "node_user",
          network: "host",
          problems: ["bwrap is not installed", "user namespaces are disabled"],
        }),
        node("new-box"),
      ]),
    });
    const user = userEvent.setup();
    renderPage(<NodeTable detailed />);
    await screen.findByText("cloud");

    const sandboxed = within(row("cloud")).getByText("Sandboxed");
    expect(sandboxed.getAttribute("title")).toBe(
      "Sandbox (bubblewrap), a uid per workspace, its own network (no host loopback), " +
        "race-free file access.",
    );
    expect(within(row("cloud")).queryByText(/problem/)).toBeNull();

    const laptop = row("laptop");
    expect(within(laptop).getByText("Sandbox, shared network")).toBeTruthy();
    expect(
      within(laptop).getByText(
        "Sandbox (bubblewrap), the node's user in a user namespace, the host's network, " +
          "race-free file access.",
      ),
    ).toBeTruthy();
    await user.click(within(laptop).getByText("1 problem"));
    expect(within(laptop).getByText(/slirp4netns is not installed/)).toBeTruthy();

    const bare = row("old-box");
    expect(within(bare).getByText("No sandbox")).toBeTruthy();
    expect(within(bare).getByText("2 problems")).toBeTruthy();
    expect(within(bare).getByText("bwrap is not installed")).toBeTruthy();

    // A node that has not reported it yet.
    expect(within(row("new-box")).getByText("—")).toBeTruthy();
  });

  it("shows the short state on the dashboard's table too", async () => {
    mockApi({ "GET /nodes": page([node("cloud", isolated)]) });
    renderPage(<NodeTable />);
    expect(await screen.findByText("Sandboxed")).toBeTruthy();
    expect(screen.getByRole("columnheader", { name: "Sandbox" })).toBeTruthy();
  });
});
