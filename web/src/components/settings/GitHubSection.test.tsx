import { cleanup, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";

import { postManifest } from "../../api/github.ts";
import type { ManifestStart } from "../../api/types.ts";
import { mockApi, renderPage, writes } from "../../testing/api.tsx";
import { githubNotSetUp, githubStatus } from "../../testing/fixtures.ts";
import { GitHubSection } from "./GitHubSection.tsx";

afterEach(cleanup);

const start: ManifestStart = {
  url: "https://github.com/organizations/acme/settings/apps/new?state=s1",
  manifest: { name: "Corral example", url: "https://corral.example.com" },
  state: "s1",
};

describe("GitHubSection", () => {
  it("lets the owner create the App and hands the manifest to GitHub", async () => {
    const calls = mockApi({
      "GET /github": { body: githubNotSetUp },
      "POST /github/app/manifest": { body: start },
    });
    const submit = vi.fn();
    const user = userEvent.setup();
    renderPage(<GitHubSection isOwner submit={submit} />);
    await user.type(await screen.findByLabelText("Organization (optional)"), "acme");
    await user.click(screen.getByRole("button", { name: "Create GitHub App" }));
    await vi.waitFor(() => expect(submit).toHaveBeenCalledWith(start));
    expect(writes(calls)).toEqual([
      expect.objectContaining({ path: "/github/app/manifest", body: { organization: "acme" } }),
    ]);
  });

  it("tells a member GitHub is not set up, and offers no App form", async () => {
    mockApi({ "GET /github": { body: githubNotSetUp } });
    renderPage(<GitHubSection isOwner={false} />);
    expect(await screen.findByText(/GitHub is not set up here yet/)).toBeTruthy();
    expect(screen.queryByRole("button", { name: "Create GitHub App" })).toBeNull();
    expect(screen.queryByRole("link", { name: "Connect GitHub" })).toBeNull();
  });

  it("shows the App with its install link, and connects your account", async () => {
    mockApi({ "GET /github": { body: githubStatus() } });
    renderPage(<GitHubSection isOwner={false} />, { url: "/?github=created" });
    const install = await screen.findByRole("link", { name: "Install on repositories" });
    expect(install.getAttribute("href")).toBe(
      "https://github.com/apps/corral-example/installations/new",
    );
    expect(screen.getByRole("status").textContent).toMatch(/The GitHub App is made/);
    expect(screen.getByRole("link", { name: "Connect GitHub" }).getAttribute("href")).toBe(
      "/auth/github/login?link=1",
    );
    expect(screen.queryByRole("button", { name: "Forget the App" })).toBeNull();
  });

  it("disconnects your linked account", async () => {
    const calls = mockApi({
      "GET /github": { body: githubStatus({ account: { login: "octo", name: "Octo Cat" } }) },
      "DELETE /github/account": { status: 204 },
    });
    const user = userEvent.setup();
    renderPage(<GitHubSection isOwner />);
    expect(await screen.findByText("octo")).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "Disconnect" }));
    await vi.waitFor(() =>
      expect(writes(calls)).toEqual([
        expect.objectContaining({ method: "DELETE", path: "/github/account" }),
      ]),
    );
  });
});

describe("postManifest", () => {
  it("posts the manifest as a JSON form field to GitHub", () => {
    const submitted = vi.spyOn(HTMLFormElement.prototype, "submit").mockImplementation(() => {});
    postManifest(start);
    const form = document.querySelector("form");
    expect(form?.method).toBe("post");
    expect(form?.action).toBe(start.url);
    const field = form?.querySelector<HTMLInputElement>("input[name=manifest]");
    expect(JSON.parse(field?.value ?? "")).toEqual(start.manifest);
    expect(submitted).toHaveBeenCalledOnce();
    form?.remove();
  });
});
