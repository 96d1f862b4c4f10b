import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import type { AgentSettings, AgentSettingsLayer, Credential } from "../../api/types.ts";
import { AgentSettingsForm } from "./AgentSettingsForm.tsx";
import { NOW, mockApi, page, renderPage, writes, type ApiCall } from "../../testing/api.tsx";
import { agent } from "../../testing/fixtures.ts";

const claude = agent({
  name: "claude",
  title: "Claude Code",
  package: "@zed-industries/claude-code-acp",
  version: "0.5.0",
  command: ["claude-code-acp"],
  credential_kinds: ["anthropic"],
  endpoint: true,
});

const unset: AgentSettingsLayer = {
  credential: null,
  model: null,
  policy: null,
  endpoint: null,
  env: {},
  args: null,
};

/** Your own settings: a model, two variables, one of which the project overrides. */
const yours: AgentSettings = {
  agent: "claude",
  project_id: null,
  credential: null,
  model: "opus",
  policy: "allow-reads",
  endpoint: null,
  env: { SHARED: "user", ONLY_USER: "1" },
  args: ["--verbose"],
  own: {
    ...unset,
    model: "opus",
    policy: "allow-reads",
    env: { SHARED: "user", ONLY_USER: "1" },
    args: ["--verbose"],
  },
};

/** The project's: it sets a policy, a variable of its own and overrides SHARED. */
const project: AgentSettings = {
  ...yours,
  project_id: "prj_1",
  policy: "allow-edits",
  env: { SHARED: "project", ONLY_USER: "1", DEBUG: "1" },
  own: { ...unset, policy: "allow-edits", env: { SHARED: "project", DEBUG: "1" } },
};

/** Answers `GET /agents/claude/settings` with the project's or your settings. */
const settingsRoute = (call: ApiCall) => ({
  body: call.query.get("project") ? project : yours,
});

afterEach(cleanup);

describe("AgentSettingsForm", () => {
  it("holds the project's own values, with inherited ones as hints", async () => {
    const calls = mockApi({
      "GET /credentials": page([]),
      "GET /agents/claude/settings": settingsRoute,
    });
    renderPage(<AgentSettingsForm agent={claude} project="prj_1" />);

    const model = (await screen.findByLabelText("Model")) as HTMLInputElement;
    expect(model.value).toBe("");
    expect(model.placeholder).toBe("opus");
    expect(await screen.findByText("Inherited: opus (your settings).")).toBeTruthy();
    expect(calls.some((c) => c.query.get("project") === "prj_1")).toBe(true);

    const policy = screen.getByLabelText("Permission policy") as HTMLSelectElement;
    expect(policy.value).toBe("allow-edits");
    expect(within(policy).getByRole("option", { name: "inherit (allow-reads)" })).toBeTruthy();

    const args = screen.getByLabelText("Extra arguments") as HTMLTextAreaElement;
    expect(args.value).toBe("");
    expect(screen.getByText(/Inherited: --verbose \(your settings\)\./)).toBeTruthy();
  });

  it("lists inherited variables read-only and edits only the project's own", async () => {
    mockApi({
      "GET /credentials": page([]),
      "GET /agents/claude/settings": settingsRoute,
    });
    renderPage(<AgentSettingsForm agent={claude} project="prj_1" />);

    expect(await screen.findByLabelText("Value of DEBUG")).toBeTruthy();
    expect((screen.getByLabelText("Value of SHARED") as HTMLInputElement).value).toBe("project");
    expect(screen.queryByLabelText("Value of ONLY_USER")).toBeNull();

    const inherited = await screen.findByRole("list", { name: "Inherited variables" });
    await waitFor(() => expect(within(inherited).getByText("ONLY_USER=1")).toBeTruthy());
    expect(within(inherited).getByText("SHARED=user")).toBeTruthy();
    expect(within(inherited).getByText("your settings, overridden here")).toBeTruthy();
    expect(within(inherited).queryByRole("textbox")).toBeNull();
    expect(within(inherited).queryByRole("button")).toBeNull();
    expect(screen.getByText(/cannot remove a variable set in your own settings/)).toBeTruthy();
  });

  it("sends only what changed against the layer's own values", async () => {
    const calls = mockApi({
      "GET /credentials": page([]),
      "GET /agents/claude/settings": settingsRoute,
      "PATCH /agents/claude/settings": {
        body: { ...project, model: "sonnet", own: { ...project.own, model: "sonnet" } },
      },
    });
    const user = userEvent.setup();
    renderPage(<AgentSettingsForm agent={claude} project="prj_1" />);

    await user.type(await screen.findByLabelText("Model"), "sonnet");
    await user.click(screen.getByRole("button", { name: "Remove DEBUG" }));
    await user.type(screen.getByLabelText("Value of SHARED"), "!");
    await user.click(screen.getByRole("button", { name: "Save settings" }));

    await waitFor(() => expect(writes(calls)).toHaveLength(1));
    expect(writes(calls)[0]?.body).toEqual({
      project: "prj_1",
      model: "sonnet",
      env: { SHARED: "project!", DEBUG: null },
    });
    expect(await screen.findByText("Saved.")).toBeTruthy();
  });

  it("clears a field emptied, and a policy set back to inherit", async () => {
    const gateway = "https://gateway.example";
    const withEndpoint = {
      ...project,
      endpoint: gateway,
      own: { ...project.own, endpoint: gateway },
    };
    const calls = mockApi({
      "GET /credentials": page([]),
      "GET /agents/claude/settings": (call) =>
        call.query.get("project") ? { body: withEndpoint } : { body: yours },
      "PATCH /agents/claude/settings": { body: project },
    });
    const user = userEvent.setup();
    renderPage(<AgentSettingsForm agent={claude} project="prj_1" />);

    const endpoint = (await screen.findByLabelText("Endpoint")) as HTMLInputElement;
    expect(endpoint.value).toBe(gateway);
    await user.clear(endpoint);
    // Known once your own settings are in.
    await screen.findByRole("option", { name: "inherit (allow-reads)" });
    await user.selectOptions(screen.getByLabelText("Permission policy"), "inherit (allow-reads)");
    await user.click(screen.getByRole("button", { name: "Save settings" }));

    await waitFor(() => expect(writes(calls)).toHaveLength(1));
    expect(writes(calls)[0]?.body).toEqual({ project: "prj_1", clear: ["policy", "endpoint"] });
  });

  it("edits your own settings, with defaults as hints", async () => {
    const calls = mockApi({
      "GET /credentials": page([]),
      "GET /agents/claude/settings": settingsRoute,
      "PATCH /agents/claude/settings": { body: yours },
    });
    const user = userEvent.setup();
    renderPage(<AgentSettingsForm agent={claude} />);

    const model = (await screen.findByLabelText("Model")) as HTMLInputElement;
    expect(model.value).toBe("opus");
    expect(calls.every((c) => c.query.get("project") === null)).toBe(true);
    const endpoint = screen.getByLabelText("Endpoint") as HTMLInputElement;
    expect(endpoint.value).toBe("");
    expect(screen.getByText(/Default: the agent's default\./)).toBeTruthy();
    expect(screen.getByRole("option", { name: "default" })).toBeTruthy();
    expect(screen.queryByRole("list", { name: /variables/ })).toBeNull();

    await user.clear(model);
    await user.clear(screen.getByLabelText("Extra arguments"));
    await user.selectOptions(screen.getByLabelText("Permission policy"), "default");
    await user.click(screen.getByRole("button", { name: "Remove ONLY_USER" }));
    await user.click(screen.getByRole("button", { name: "Save settings" }));

    await waitFor(() => expect(writes(calls)).toHaveLength(1));
    expect(writes(calls)[0]?.body).toEqual({
      env: { ONLY_USER: null },
      clear: ["model", "policy", "args"],
    });
  });

  it("names the default policy where your settings leave it unset", async () => {
    mockApi({
      "GET /credentials": page([]),
      "GET /agents/claude/settings": {
        body: { ...yours, policy: "ask", own: { ...yours.own, policy: null } },
      },
    });
    renderPage(<AgentSettingsForm agent={claude} />);
    const policy = (await screen.findByLabelText("Permission policy")) as HTMLSelectElement;
    expect(policy.value).toBe("");
    expect(within(policy).getByRole("option", { name: "default (ask)" })).toBeTruthy();
  });

  it("offers credentials from every page of the list", async () => {
    const credential = (n: number): Credential => ({
      id: `crd_${n}`,
      name: `key-${n}`,
      kind: "anthropic",
      last4: String(1000 + n),
      created_at: NOW,
      updated_at: NOW,
      last_used_at: null,
    });
    // Three pages: the picker follows next_cursor to the last.
    const pages: Record<string, { items: Credential[]; next_cursor: string | null }> = {
      "": { items: [credential(1), credential(2)], next_cursor: "c2" },
      c2: { items: [credential(3)], next_cursor: "c3" },
      c3: { items: [credential(4)], next_cursor: null },
    };
    const calls = mockApi({
      "GET /credentials": (call) => ({ body: pages[call.query.get("cursor") ?? ""] }),
      "GET /agents/claude/settings": settingsRoute,
    });
    renderPage(<AgentSettingsForm agent={claude} />);

    const picker = (await screen.findByLabelText("Credential")) as HTMLSelectElement;
    await waitFor(() =>
      expect(within(picker).getByRole("option", { name: "key-4 (anthropic, …1004)" })).toBeTruthy(),
    );
    expect(
      within(picker)
        .getAllByRole("option")
        .map((o) => o.textContent),
    ).toEqual([
      "None",
      "key-1 (anthropic, …1001)",
      "key-2 (anthropic, …1002)",
      "key-3 (anthropic, …1003)",
      "key-4 (anthropic, …1004)",
    ]);
    const reads = calls.filter((c) => c.path === "/credentials");
    expect(reads.map((c) => c.query.get("cursor"))).toEqual([null, "c2", "c3"]);
    expect(reads.every((c) => c.query.get("limit") === "200")).toBe(true);
  });
});
