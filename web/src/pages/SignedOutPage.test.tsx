import { cleanup, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { renderPage } from "../testing/api.tsx";
import { SignedOutPage } from "./SignedOutPage.tsx";

afterEach(cleanup);

function githubAvailable(available: boolean) {
  vi.spyOn(globalThis, "fetch").mockImplementation(
    async () => new Response(JSON.stringify({ available }), { status: 200 }),
  );
}

describe("SignedOutPage", () => {
  it("offers GitHub sign-in when this Corral has it", async () => {
    githubAvailable(true);
    renderPage(<SignedOutPage />);
    const link = await screen.findByRole("link", { name: "Sign in with GitHub" });
    expect(link.getAttribute("href")).toMatch(/^\/auth\/github\/login\?next=%2F/);
  });

  it("offers only the login link otherwise", async () => {
    githubAvailable(false);
    renderPage(<SignedOutPage />);
    expect(await screen.findByText(/open a login link/)).toBeTruthy();
    await vi.waitFor(() => expect(globalThis.fetch).toHaveBeenCalled());
    expect(screen.queryByRole("link", { name: "Sign in with GitHub" })).toBeNull();
  });
});
