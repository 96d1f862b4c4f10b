import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import type { Node, NodeIsolation } from "../api/types.ts";
import { mockApi, page, renderPage } from "../testing/api.tsx";
import { cloudNode, readyNode } from "../testing/fixtures.ts";
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

  it("follows the steps of a node being made, with its size, region and price", async () => {
    const making = cloudNode();
    const joining = cloudNode({
      state: "joining",
      state_reason: "joining",
      bootstrap_log: [...making.bootstrap_log, { at: "2025-01-01T00:01:10Z", step: "joining" }],
    });
    const ready = cloudNode({ ...joining, state: "ready", state_reason: null });
    let reads = 0;
    mockApi({ "GET /nodes": () => page([[making, joining, ready][Math.min(reads++, 2)]]) });
    renderPage(<NodeTable detailed />);

    const steps = await screen.findByRole("log", { name: "Steps of cloud-1" });
    expect(steps.closest("details")?.open).toBe(true);
    expect(
      within(steps)
        .getAllByRole("listitem")
        .map((li) => li.textContent),
    ).toEqual([
      expect.stringMatching(/ creating the server$/),
      expect.stringMatching(/ installing Docker$/),
    ]);
    expect(within(steps).getAllByRole("listitem")[0]?.querySelector("time")?.dateTime).toBe(
      "2025-01-01T00:00:05Z",
    );
    const row = screen.getByRole("row", { name: /^cloud-1 / });
    expect(within(row).getByText("provisioning")).toBeTruthy();
    expect(within(row).getByText("cx23")).toBeTruthy();
    expect(within(row).getByText("in fsn1")).toBeTruthy();
    expect(within(row).getByText("€0.0074/h")).toBeTruthy();
    expect(within(row).getByText("€0.01 this month")).toBeTruthy();

    // Read again while it is being made: the next step shows without a notice.
    await waitFor(() => expect(within(steps).getAllByRole("listitem")).toHaveLength(3), {
      timeout: 4000,
    });
    expect(within(row).getByText("joining", { selector: ".badge" })).toBeTruthy();

    // Made: the steps go, with the row under it.
    await waitFor(() => expect(within(row).getByText("ready")).toBeTruthy(), { timeout: 4000 });
    expect(screen.queryByRole("log")).toBeNull();
    expect(screen.getAllByRole("row")).toHaveLength(2);
  });

  it("shows why a node failed, and an SSH node's server", async () => {
    mockApi({
      "GET /nodes": page([
        cloudNode({
          state: "error",
          state_reason: "the machine did not join in time",
          last_error: "hetzner: server limit reached",
        }),
        readyNode({
          id: "nod_ssh",
          name: "build-box",
          provider: "ssh",
          options: { host: "build.example.com", port: 2222, user: "deploy" },
          host_key_fingerprint: "SHA256:abc",
        }),
        cloudNode({
          id: "nod_retry",
          name: "retry-1",
          state_reason: "creating the server",
          last_error: "hetzner: rate limited",
        }),
        cloudNode({
          id: "nod_said",
          name: "said-1",
          state_reason: "cannot connect: refused (trying again in 4 s)",
          last_error: "cannot connect: refused",
        }),
      ]),
    });
    renderPage(<NodeTable detailed />);
    const failed = await screen.findByRole("row", { name: /^cloud-1 / });
    expect(within(failed).getByText("the machine did not join in time")).toBeTruthy();
    expect(within(failed).getByText("hetzner: server limit reached")).toBeTruthy();
    expect(screen.getByRole("log", { name: "Steps of cloud-1" })).toBeTruthy();
    const server = within(screen.getByRole("row", { name: /^build-box / })).getByText(
      "deploy@build.example.com:2222",
    );
    expect(server.getAttribute("title")).toBe("Host key SHA256:abc");
    // While a provider tries again, its last failure, unless the reason says it already.
    const retrying = screen.getByRole("row", { name: /^retry-1 / });
    expect(within(retrying).getByText("The last try failed: hetzner: rate limited")).toBeTruthy();
    expect(
      within(screen.getByRole("row", { name: /^said-1 / })).queryByText(/last try/),
    ).toBeNull();
  });

  it("leaves out the machine and price columns while every node is manual", async () => {
    mockApi({ "GET /nodes": page([readyNode()]) });
    renderPage(<NodeTable detailed />);
    expect(await screen.findByText("box-1")).toBeTruthy();
    expect(screen.queryByRole("columnheader", { name: "Machine" })).toBeNull();
    expect(screen.queryByRole("columnheader", { name: "Price" })).toBeNull();
  });
});
