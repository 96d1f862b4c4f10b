import { cleanup, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import type { Agent, AgentSettings } from "../../api/types.ts";
import { AgentSettingsForm } from "./AgentSettingsForm.tsx";
import { mockApi, page, renderPage, writes } from "../../testing/api.tsx";

const claude: Agent = {
  name: "claude",
  title: "Claude Code",
  builtin: true,
  package: "@zed-industries/claude-code-acp",
  version: "0.5.0",
  command: ["claude-code-acp"],
  credential_kinds: ["anthropic"],
  endpoint: true,
};

const settings: AgentSettings = {
  agent: "claude",
  project_id: null,
  credential: null,
  model: "sonnet",
  policy: "ask",
  endpoint: null,
  env: { DEBUG: "1", KEEP: "yes" },
  args: [],
};

afterEach(cleanup);

describe("AgentSettingsForm", () => {
  it("sends only what changed, unsetting removed variables and cleared fields", async () => {
    const calls = mockApi({
      "GET /credentials": page([]),
      "GET /agents/claude/settings": { body: settings },
      "PATCH /agents/claude/settings": {
        body: { ...settings, policy: "allow-edits", model: null, env: { KEEP: "yes" } },
      },
    });
    const user = userEvent.setup();
    renderPage(<AgentSettingsForm agent={claude} project="prj_1" />);

    const model = (await screen.findByLabelText("Model")) as HTMLInputElement;
    expect(model.value).toBe("sonnet");
    expect(calls[0]?.query.get("project")).toBe("prj_1");

    await user.clear(model);
    await user.selectOptions(screen.getByLabelText("Permission policy"), "allow-edits");
    await user.click(screen.getByRole("button", { name: "Remove DEBUG" }));
    await user.click(screen.getByRole("button", { name: "Save settings" }));

    await waitFor(() => expect(writes(calls)).toHaveLength(1));
    expect(writes(calls)[0]?.body).toEqual({
      project: "prj_1",
      policy: "allow-edits",
      unset_env: ["DEBUG"],
      clear: ["model"],
    });
    expect(await screen.findByText("Saved.")).toBeTruthy();
  });
});
