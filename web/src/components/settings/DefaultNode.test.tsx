import { cleanup, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import { mockApi, renderPage, writes } from "../../testing/api.tsx";
import { DefaultNode, MakeDefaultButton } from "./DefaultNode.tsx";

afterEach(cleanup);

const template = {
  provider: "hetzner",
  machine_type: "cx23",
  region: "fsn1",
  credential: "hz-work",
  allow_ssh: false,
  ssh: null,
};

describe("DefaultNode", () => {
  it("says which node is made when no node has room, and stops it", async () => {
    const calls = mockApi({
      "GET /providers/default-node": { body: template },
      "DELETE /providers/default-node": { status: 204 },
    });
    const user = userEvent.setup();
    renderPage(<DefaultNode />);
    expect(
      await screen.findByText(/Corral makes a hetzner node, cx23 in fsn1 for you/),
    ).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "Stop making nodes" }));
    expect(writes(calls)).toEqual([
      expect.objectContaining({ method: "DELETE", path: "/providers/default-node" }),
    ]);
  });

  it("says workspaces wait when there is none", async () => {
    mockApi({ "GET /providers/default-node": { body: null } });
    renderPage(<DefaultNode />);
    expect(await screen.findByText(/Your workspaces wait for room/)).toBeTruthy();
  });

  it("saves the cloud form's choice as the default node", async () => {
    const calls = mockApi({ "PUT /providers/default-node": { body: template } });
    const user = userEvent.setup();
    renderPage(<MakeDefaultButton template={template} />);
    await user.click(screen.getByRole("button", { name: "Make it my default node" }));
    expect(await screen.findByText(/Saved as your default node/)).toBeTruthy();
    expect(writes(calls)).toEqual([
      expect.objectContaining({ method: "PUT", path: "/providers/default-node", body: template }),
    ]);
  });
});
