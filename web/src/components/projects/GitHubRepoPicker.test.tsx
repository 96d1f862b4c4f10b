import { cleanup, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";

import { apiError, mockApi, renderPage, writes } from "../../testing/api.tsx";
import { demoProject, githubStatus, widgetsRepo } from "../../testing/fixtures.ts";
import { AddProjectForm } from "./AddProjectForm.tsx";

afterEach(cleanup);

const connected = githubStatus({ account: { login: "octo", name: null } });

describe("the add-project form's GitHub repository picker", () => {
  it("fills the URL, branch and name from the picked repository", async () => {
    const calls = mockApi({
      "GET /github": { body: connected },
      "GET /github/repositories": { body: { items: [widgetsRepo] } },
      "POST /projects": { status: 201, body: { ...demoProject, name: "widgets" } },
    });
    const user = userEvent.setup();
    renderPage(<AddProjectForm />);
    const picker = await screen.findByLabelText("GitHub repository");
    await screen.findByRole("option", { name: "acme/widgets (private)" });
    await user.selectOptions(picker, "https://github.com/acme/widgets.git");
    expect((screen.getByLabelText("Repository URL") as HTMLInputElement).value).toBe(
      "https://github.com/acme/widgets.git",
    );
    expect((screen.getByLabelText("Branch") as HTMLInputElement).value).toBe("trunk");
    expect((screen.getByLabelText("Name") as HTMLInputElement).value).toBe("widgets");
    await user.click(screen.getByRole("button", { name: "Add project" }));
    await vi.waitFor(() =>
      expect(writes(calls)[0]?.body).toEqual({
        name: "widgets",
        github: "acme/widgets",
        default_branch: "trunk",
      }),
    );
  });

  it("sends the URL instead once it is edited by hand", async () => {
    const calls = mockApi({
      "GET /github": { body: connected },
      "GET /github/repositories": { body: { items: [widgetsRepo] } },
      "POST /projects": { status: 201, body: demoProject },
    });
    const user = userEvent.setup();
    renderPage(<AddProjectForm />);
    await screen.findByRole("option", { name: "acme/widgets (private)" });
    await user.selectOptions(
      screen.getByLabelText("GitHub repository"),
      "https://github.com/acme/widgets.git",
    );
    const url = screen.getByLabelText("Repository URL");
    await user.clear(url);
    await user.type(url, "https://example.com/other.git");
    await user.click(screen.getByRole("button", { name: "Add project" }));
    await vi.waitFor(() =>
      expect(writes(calls)[0]?.body).toMatchObject({ repo: "https://example.com/other.git" }),
    );
    expect(writes(calls)[0]?.body).not.toHaveProperty("github");
  });

  it("is not there when your GitHub account is not connected", async () => {
    const calls = mockApi({ "GET /github": { body: githubStatus() } });
    renderPage(<AddProjectForm />);
    expect(await screen.findByLabelText("Repository URL")).toBeTruthy();
    await vi.waitFor(() => expect(calls.some((c) => c.path === "/github")).toBe(true));
    expect(screen.queryByLabelText("GitHub repository")).toBeNull();
    expect(calls.some((c) => c.path === "/github/repositories")).toBe(false);
  });

  it("says why when GitHub cannot list them", async () => {
    mockApi({
      "GET /github": { body: connected },
      "GET /github/repositories": apiError(502, "github_unavailable", "GitHub answered 500"),
    });
    renderPage(<AddProjectForm />);
    expect(await screen.findByText(/GitHub answered 500/)).toBeTruthy();
  });
});
