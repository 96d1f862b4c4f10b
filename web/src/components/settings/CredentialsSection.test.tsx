import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import type { Credential } from "../../api/types.ts";
import { CredentialsSection } from "./CredentialsSection.tsx";
import {
  NOW,
  apiError,
  describedError,
  mockApi,
  page,
  renderPage,
  writes,
} from "../../testing/api.tsx";

const SECRET = "sk-ant-api03-very-secret-value-9f3k";

const stored: Credential = {
  id: "crd_1",
  name: "anthropic-work",
  kind: "anthropic",
  last4: "x9Qz",
  created_at: NOW,
  updated_at: NOW,
  last_used_at: null,
};

afterEach(cleanup);

describe("CredentialsSection", () => {
  it("sends a new credential with PUT and never shows its value", async () => {
    const calls = mockApi({
      "GET /credentials": page([stored]),
      "PUT /credentials/openai-main": {
        status: 201,
        body: { ...stored, id: "crd_2", name: "openai-main", kind: "openai", last4: "9f3k" },
      },
    });
    const user = userEvent.setup();
    renderPage(<CredentialsSection />);

    expect(await screen.findByText("anthropic-work")).toBeTruthy();
    expect(screen.getByText("…x9Qz")).toBeTruthy();

    const value = screen.getByLabelText("Value") as HTMLInputElement;
    expect(value.type).toBe("password");
    expect(value.getAttribute("autocomplete")).toBe("off");
    expect(value.value).toBe("");

    await user.type(screen.getByLabelText("Name"), "openai-main");
    await user.selectOptions(screen.getByLabelText("Kind"), "openai");
    await user.type(value, SECRET);
    await user.click(screen.getByRole("button", { name: "Save credential" }));

    await screen.findByText("Saved openai-main.");
    expect(writes(calls)).toEqual([
      {
        method: "PUT",
        path: "/credentials/openai-main",
        query: expect.anything(),
        body: { kind: "openai", value: SECRET },
      },
    ]);
    // Gone from the form, and never anywhere on the page.
    expect(value.value).toBe("");
    expect(document.body.innerHTML).not.toContain(SECRET);
  });

  it("shows the API's message for a bad value next to the value field", async () => {
    mockApi({
      "GET /credentials": page([]),
      "PUT /credentials/deploy": apiError(
        422,
        "invalid_input",
        "an ssh-key credential must be a private key in OpenSSH or PEM format",
        [{ field: "body.value" }],
      ),
    });
    const user = userEvent.setup();
    renderPage(<CredentialsSection />);
    await screen.findByText("No credentials yet.");

    await user.type(screen.getByLabelText("Name"), "deploy");
    await user.type(screen.getByLabelText("Value"), "not a key");
    await user.click(screen.getByRole("button", { name: "Save credential" }));

    const input = screen.getByLabelText("Value");
    await waitFor(() => expect(input.getAttribute("aria-invalid")).toBe("true"));
    expect(describedError(input)).toContain("must be a private key");
  });

  it("replaces a value without prefilling it, and asks before deleting", async () => {
    const calls = mockApi({
      "GET /credentials": page([stored]),
      "PUT /credentials/anthropic-work": { body: { ...stored, last4: "new1" } },
      "DELETE /credentials/anthropic-work": { status: 204 },
    });
    const user = userEvent.setup();
    renderPage(<CredentialsSection />);

    await user.click(await screen.findByRole("button", { name: "Replace anthropic-work" }));
    const form = screen.getByRole("form", { name: "Replace anthropic-work" });
    const value = within(form).getByLabelText("New value") as HTMLInputElement;
    expect(value.type).toBe("password");
    expect(value.value).toBe("");
    await user.type(value, "sk-ant-replacement-0000");
    await user.click(within(form).getByRole("button", { name: "Replace value" }));
    await waitFor(() => expect(screen.queryByRole("form", { name: /^Replace/ })).toBeNull());
    expect(writes(calls)[0]).toMatchObject({
      method: "PUT",
      path: "/credentials/anthropic-work",
      body: { kind: "anthropic", value: "sk-ant-replacement-0000" },
    });

    await user.click(screen.getByRole("button", { name: "Delete anthropic-work" }));
    expect(writes(calls)).toHaveLength(1); // only asked so far
    const confirm = screen.getByRole("group", { name: "Delete anthropic-work" });
    expect(confirm.textContent).toContain("Delete anthropic-work?");
    await user.click(within(confirm).getByRole("button", { name: "Delete" }));
    await waitFor(() => expect(writes(calls)).toHaveLength(2));
    expect(writes(calls)[1]).toMatchObject({
      method: "DELETE",
      path: "/credentials/anthropic-work",
    });
  });
});
