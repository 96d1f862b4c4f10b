import { cleanup, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";

import { apiError, mockApi, renderPage, writes } from "../../testing/api.tsx";
import { agent } from "../../testing/fixtures.ts";
import { NewChatForm } from "./NewChatForm.tsx";

const claude = agent({
  name: "claude",
  title: "Claude Code",
  package: "@agentclientprotocol/claude-agent-acp",
  version: "0.101.0",
  command: ["claude-agent-acp"],
  credential_kinds: ["anthropic"],
  endpoint: true,
});

afterEach(cleanup);

describe("NewChatForm", () => {
  it("starts the chosen agent with the chosen policy", async () => {
    const calls = mockApi({
      "GET /agents": { body: [claude, { ...claude, name: "mine", title: "", builtin: false }] },
      "POST /sessions": { status: 201, body: { id: "ses_9" } },
    });
    const started = vi.fn();
    const user = userEvent.setup();
    renderPage(<NewChatForm workspaceId="wsp_1" onStarted={started} onCancel={() => {}} />);
    await screen.findByRole("option", { name: "mine (custom)" });
    await user.selectOptions(screen.getByLabelText("Agent"), "mine");
    await user.selectOptions(screen.getByLabelText("Permissions"), "allow-reads");
    await user.click(screen.getByRole("button", { name: "Start chat" }));
    await vi.waitFor(() => expect(started).toHaveBeenCalled());
    expect(writes(calls).map((c) => c.body)).toEqual([
      { workspace: "wsp_1", agent: "mine", policy: "allow-reads" },
    ]);
  });

  it("says where to set a credential when the agent needs one", async () => {
    mockApi({
      "GET /agents": { body: [claude] },
      "POST /sessions": apiError(422, "credential_missing", "claude needs a credential"),
    });
    const user = userEvent.setup();
    renderPage(<NewChatForm workspaceId="wsp_1" onStarted={() => {}} onCancel={() => {}} />);
    await user.click(await screen.findByRole("button", { name: "Start chat" }));
    expect(await screen.findByText(/claude needs a credential/)).toBeTruthy();
    const link = screen.getByRole("link", { name: "Settings → Credentials" });
    expect(link.getAttribute("href")).toBe("/settings#credentials");
  });
});
