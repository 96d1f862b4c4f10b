import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import type { Credential, Provider, ProviderOffer } from "../../api/types.ts";
import { NOW, apiError, mockApi, page, renderPage, writes } from "../../testing/api.tsx";
import { cloudNode } from "../../testing/fixtures.ts";
import { AddNodeForm } from "./AddNodeForm.tsx";

const GIB = 1024 ** 3;

const providers: Provider[] = [
  { name: "manual", kind: "manual", credential_kind: null },
  { name: "hetzner", kind: "cloud", credential_kind: "hetzner" },
  { name: "ssh", kind: "machine", credential_kind: "ssh-key" },
];

const credential = (name: string, kind: Credential["kind"]): Credential => ({
  id: `crd_${name}`,
  name,
  kind,
  last4: "abcd",
  created_at: NOW,
  updated_at: NOW,
  last_used_at: null,
});

const offer: ProviderOffer = {
  machine_types: [
    {
      name: "cx23",
      description: "CX23",
      cpus: 2,
      memory_bytes: 4 * GIB,
      disk_bytes: 40 * GIB,
      architecture: "x86",
      hourly_price: 0.0074,
      currency: "EUR",
      regions: ["fsn1", "nbg1"],
      prices: { nbg1: 0.0081 },
    },
    {
      name: "cax11",
      description: "CAX11",
      cpus: 2,
      memory_bytes: 4 * GIB,
      disk_bytes: 40 * GIB,
      architecture: "arm",
      hourly_price: 0.0059,
      currency: "EUR",
      regions: ["fsn1"],
      prices: {},
    },
  ],
  regions: [
    { name: "fsn1", description: "Falkenstein DC Park 1", country: "DE" },
    { name: "nbg1", description: "Nuremberg 1 DC 3", country: "DE" },
  ],
};

const created = (name: string) => ({
  status: 201,
  body: {
    node: cloudNode({ name, state: "pending", bootstrap_log: [] }),
    join_token: null,
    join_command: null,
    expires_at: null,
  },
});

const options = (select: HTMLElement) =>
  within(select)
    .getAllByRole("option")
    .map((o) => o.textContent);

afterEach(cleanup);

describe("AddNodeForm", () => {
  it("makes a cloud node of a size and region, with its price shown first", async () => {
    const calls = mockApi({
      "GET /providers": { body: providers },
      "GET /credentials": page([
        credential("hz-work", "hetzner"),
        credential("claude", "anthropic"),
        credential("hz-play", "hetzner"),
      ]),
      "GET /providers/hetzner/offer": { body: offer },
      "POST /nodes": created("cloud-1"),
    });
    const user = userEvent.setup();
    renderPage(<AddNodeForm isOwner />);

    await user.click(await screen.findByRole("radio", { name: "Cloud" }));
    expect(options(await screen.findByLabelText("Credential"))).toEqual(["hz-work", "hz-play"]);
    expect(options(await screen.findByLabelText("Region"))).toEqual([
      "Falkenstein DC Park 1 (fsn1, DE)",
      "Nuremberg 1 DC 3 (nbg1, DE)",
    ]);
    expect(options(screen.getByLabelText("Size"))).toEqual([
      "cx23: 2 CPUs, 4 GiB memory, 40 GiB disk, €0.0074/h",
      "cax11: 2 CPUs, 4 GiB memory, 40 GiB disk, arm, €0.0059/h",
    ]);
    expect(
      screen.getByText(/This machine costs money: €0\.0074\/h \(about €5\.40 a month\)/),
    ).toBeTruthy();

    // Another region offers fewer sizes, at its own price.
    await user.selectOptions(screen.getByLabelText("Region"), "nbg1");
    expect(options(screen.getByLabelText("Size"))).toEqual([
      "cx23: 2 CPUs, 4 GiB memory, 40 GiB disk, €0.0081/h",
    ]);
    expect(screen.getByText(/€0\.0081\/h \(about €5\.91 a month\)/)).toBeTruthy();

    // The offer is read with the credential chosen.
    await user.selectOptions(screen.getByLabelText("Credential"), "hz-play");
    await waitFor(() =>
      expect(
        calls
          .filter((c) => c.path === "/providers/hetzner/offer")
          .map((c) => c.query.get("credential")),
      ).toEqual(["hz-work", "hz-play"]),
    );

    await user.click(screen.getByLabelText("Open the SSH port"));
    await user.type(screen.getByLabelText("Node name"), "cloud-1");
    await user.click(screen.getByRole("button", { name: "Add node" }));
    expect(await screen.findByText(/cloud-1 is on its way/)).toBeTruthy();
    expect(writes(calls)).toEqual([
      expect.objectContaining({
        method: "POST",
        path: "/nodes",
        body: {
          name: "cloud-1",
          provider: "hetzner",
          credential: "hz-play",
          machine_type: "cx23",
          region: "nbg1",
          allow_ssh: true,
        },
      }),
    ]);
    expect((screen.getByLabelText("Node name") as HTMLInputElement).value).toBe("");
  });

  it("says when there is no credential for the cloud, and shows the cloud's error", async () => {
    mockApi({
      "GET /providers": { body: providers },
      "GET /credentials": page([]),
    });
    const user = userEvent.setup();
    const { unmount } = renderPage(<AddNodeForm isOwner />);
    await user.click(await screen.findByRole("radio", { name: "Cloud" }));
    const missing = await screen.findByText(/You have no hetzner credential/);
    expect(within(missing).getByRole("link", { name: "Credentials" })).toBeTruthy();
    expect(screen.getByRole("button", { name: "Add node" })).toHaveProperty("disabled", true);
    unmount();

    mockApi({
      "GET /providers": { body: providers },
      "GET /credentials": page([credential("hz-work", "hetzner")]),
      "GET /providers/hetzner/offer": apiError(502, "provider_error", "Hetzner did not answer"),
    });
    renderPage(<AddNodeForm isOwner />);
    await user.click(await screen.findByRole("radio", { name: "Cloud" }));
    expect((await screen.findByRole("alert")).textContent).toContain("Hetzner did not answer");
  });

  it("installs a node onto a server over SSH", async () => {
    const calls = mockApi({
      "GET /providers": { body: providers },
      "GET /credentials": page([credential("deploy-key", "ssh-key")]),
      "POST /nodes": created("build-box"),
    });
    const user = userEvent.setup();
    renderPage(<AddNodeForm isOwner />);

    await user.click(await screen.findByRole("radio", { name: "SSH" }));
    await user.type(screen.getByLabelText("Node name"), "build-box");
    await user.type(screen.getByLabelText("Host"), "build.example.com");
    await user.clear(screen.getByLabelText("Port"));
    await user.type(screen.getByLabelText("Port"), "2222");
    await user.clear(screen.getByLabelText("User"));
    await user.type(screen.getByLabelText("User"), "deploy");
    expect(await screen.findByLabelText("Credential")).toBeTruthy();
    expect(screen.getByText(/logs in as deploy@build\.example\.com with your key/)).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "Add node" }));

    expect(await screen.findByText(/build-box is on its way/)).toBeTruthy();
    expect(writes(calls)[0]?.body).toEqual({
      name: "build-box",
      provider: "ssh",
      credential: "deploy-key",
      allow_ssh: false,
      ssh: { host: "build.example.com", port: 2222, user: "deploy" },
    });
  });

  it("offers a member the providers but not a manual node", async () => {
    mockApi({
      "GET /providers": { body: providers.slice(0, 2) },
      "GET /credentials": page([credential("hz-work", "hetzner")]),
      "GET /providers/hetzner/offer": { body: offer },
    });
    renderPage(<AddNodeForm isOwner={false} />);
    expect(await screen.findByLabelText("Size")).toBeTruthy();
    expect(screen.queryByRole("radio")).toBeNull();
  });
});
