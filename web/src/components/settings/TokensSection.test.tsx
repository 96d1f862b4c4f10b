import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import type { ApiToken } from "../../api/types.ts";
import { NOW, mockApi, page, renderPage, writes } from "../../testing/api.tsx";
import { TokensSection } from "./TokensSection.tsx";

const SECRET = "crl_2b7XyQpLmN0vW4sT9aHcK1dR8eU3fG6j";

const laptop: ApiToken = {
  id: "tok_1",
  name: "laptop",
  last4: "abcd",
  created_at: NOW,
  last_used_at: null,
  revoked_at: null,
};

afterEach(cleanup);

describe("TokensSection", () => {
  it("shows a new token's secret once, with a warning, until Done", async () => {
    const calls = mockApi({
      "GET /tokens": page([laptop]),
      "POST /tokens": {
        status: 201,
        body: { ...laptop, id: "tok_2", name: "ci", last4: "G6j", token: SECRET },
      },
    });
    const user = userEvent.setup();
    renderPage(<TokensSection />);

    await user.type(await screen.findByLabelText("Token name"), "ci");
    await user.click(screen.getByRole("button", { name: "Create token" }));

    const shown = await screen.findByRole("region", { name: "Token ci" });
    expect(shown.textContent).toContain(SECRET);
    expect(shown.textContent).toContain("it is not shown again");
    expect(within(shown).getByRole("button", { name: "Copy" })).toBeTruthy();
    expect(writes(calls)[0]).toMatchObject({
      method: "POST",
      path: "/tokens",
      body: { name: "ci" },
    });

    await user.click(within(shown).getByRole("button", { name: "Done" }));
    expect(document.body.textContent).not.toContain(SECRET);
    expect(screen.getByRole("button", { name: "Create token" })).toBeTruthy();
  });

  it("revokes a token only after confirming", async () => {
    const calls = mockApi({
      "GET /tokens": page([laptop]),
      "DELETE /tokens/tok_1": { body: { ...laptop, revoked_at: NOW } },
    });
    const user = userEvent.setup();
    renderPage(<TokensSection />);

    await user.click(await screen.findByRole("button", { name: "Revoke laptop" }));
    expect(writes(calls)).toHaveLength(0);
    await user.click(screen.getByRole("button", { name: "Revoke" }));
    await waitFor(() =>
      expect(writes(calls)).toMatchObject([{ method: "DELETE", path: "/tokens/tok_1" }]),
    );
  });
});
