import { cleanup, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import {
  apiError,
  describedError,
  mockApi,
  page,
  renderPage,
  writes,
  type FakeResponse,
} from "../testing/api.tsx";
import { demoProject as demo } from "../testing/fixtures.ts";
import { ProjectsPage } from "./ProjectsPage.tsx";

afterEach(cleanup);

async function fillAndSubmit(user: ReturnType<typeof userEvent.setup>, repo: string) {
  await user.type(screen.getByLabelText("Name"), "api");
  await user.type(screen.getByLabelText("Repository URL"), repo);
  await user.click(screen.getByRole("button", { name: "Add project" }));
}

describe("ProjectsPage", () => {
  it("lists projects linking to their pages", async () => {
    mockApi({ "GET /projects": page([demo]) });
    renderPage(<ProjectsPage />, { path: "/projects", url: "/projects" });
    const link = await screen.findByRole("link", { name: "demo" });
    expect(link.getAttribute("href")).toBe("/projects/demo");
  });

  it("shows 'Checking repository…' while git runs, then its error by the field", async () => {
    let answer!: (r: FakeResponse) => void;
    const calls = mockApi({
      "GET /projects": page([]),
      "POST /projects": new Promise<FakeResponse>((resolve) => (answer = resolve)),
    });
    const user = userEvent.setup();
    renderPage(<ProjectsPage />, { path: "/projects", url: "/projects" });
    await screen.findByText(/No projects yet/);

    await fillAndSubmit(user, "https://github.com/acme/missing.git");
    expect(await screen.findByText("Checking repository…")).toBeTruthy();
    expect(writes(calls)[0]?.body).toEqual({
      name: "api",
      repo: "https://github.com/acme/missing.git",
    });

    answer(
      apiError(
        422,
        "repo_unreachable",
        "the repository https://github.com/acme/missing.git is not reachable: not found",
        [{ field: "body.repo" }],
      ),
    );
    const repo = screen.getByLabelText("Repository URL");
    await waitFor(() => expect(repo.getAttribute("aria-invalid")).toBe("true"));
    expect(describedError(repo)).toContain("is not reachable");
    expect(screen.queryByText("Checking repository…")).toBeNull();
    expect(screen.getByLabelText("Name").getAttribute("aria-invalid")).toBeNull();
  });

  it("puts a git timeout (503) next to the repository field too", async () => {
    mockApi({
      "GET /projects": page([]),
      "POST /projects": apiError(503, "repo_timeout", "git did not answer within 20 s"),
    });
    const user = userEvent.setup();
    renderPage(<ProjectsPage />, { path: "/projects", url: "/projects" });
    await screen.findByText(/No projects yet/);
    await fillAndSubmit(user, "https://slow.example/x.git");
    const repo = screen.getByLabelText("Repository URL");
    await waitFor(() => expect(describedError(repo)).toContain("git did not answer"));
  });

  it("sends the branch when given and opens the new project", async () => {
    const calls = mockApi({
      "GET /projects": page([]),
      "POST /projects": { status: 201, body: { ...demo, name: "api", default_branch: "dev" } },
    });
    const user = userEvent.setup();
    renderPage(<ProjectsPage />, { path: "/projects", url: "/projects" });
    await screen.findByText(/No projects yet/);
    await user.type(screen.getByLabelText("Branch"), "dev");
    await fillAndSubmit(user, "git@github.com:acme/api.git");
    expect((await screen.findByTestId("location")).textContent).toBe("/projects/api");
    expect(writes(calls)[0]?.body).toEqual({
      name: "api",
      repo: "git@github.com:acme/api.git",
      default_branch: "dev",
    });
  });
});
