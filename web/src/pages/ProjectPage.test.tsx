import { cleanup, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it } from "vitest";

import type { Project } from "../api/types.ts";
import { apiError, mockApi, page, renderPage, writes, type ApiRoutes } from "../testing/api.tsx";
import {
  demoProject,
  githubProject,
  pullRequest,
  session,
  workspace as workspaceFixture,
} from "../testing/fixtures.ts";
import { ProjectPage } from "./ProjectPage.tsx";

const demo: Project = { ...demoProject, env: { LOG_LEVEL: "debug" } };

const workspace = workspaceFixture({ node_id: null });

const oldSession = session({
  workspace_id: "wsp_gone",
  title: "Fix the login bug",
  last_message: "Done.",
});

function routes(extra: ApiRoutes = {}): ApiRoutes {
  return {
    "GET /projects/demo": { body: demo },
    "GET /workspaces": page([workspace]),
    "GET /sessions": page([oldSession]),
    "GET /nodes": page([]),
    "GET /agents": { body: [] },
    ...extra,
  };
}

const open = () => renderPage(<ProjectPage />, { path: "/projects/:ref", url: "/projects/demo" });

afterEach(cleanup);

describe("ProjectPage", () => {
  it("lists the project's workspaces and its whole chat history", async () => {
    const calls = mockApi(routes());
    open();
    const ws = await screen.findByRole("link", { name: "demo-1" });
    expect(ws.getAttribute("href")).toBe("/workspaces/wsp_1");
    const chat = await screen.findByRole("link", { name: "Fix the login bug" });
    expect(chat.getAttribute("href")).toBe("/sessions/ses_1");
    expect(screen.getByText("stopped")).toBeTruthy();

    const sessions = calls.find((c) => c.path === "/sessions")!;
    expect(sessions.query.get("project")).toBe("prj_1");
    expect(sessions.query.getAll("state")).toEqual([]); // every state
    expect(calls.find((c) => c.path === "/workspaces")!.query.get("project")).toBe("prj_1");
  });

  it("lists the pull requests its chats opened, with their state", async () => {
    mockApi(
      routes({
        "GET /projects/demo": { body: githubProject },
        "GET /projects/prj_1/pull-requests": page([
          pullRequest({ number: 7, state: "merged", checks: "passed" }),
        ]),
      }),
    );
    open();
    const link = await screen.findByRole("link", { name: "acme/demo#7" });
    expect(link.getAttribute("href")).toBe("https://github.com/acme/demo/pull/7");
    const row = link.closest("tr")!;
    expect(within(row).getByText("merged")).toBeTruthy();
    expect(within(row).getByText("passed")).toBeTruthy();
  });

  it("names the project's repository on GitHub and how it is reached", async () => {
    mockApi(routes({ "GET /projects/demo": { body: githubProject } }));
    open();
    const fact = (await screen.findByText("GitHub")).closest("div")!;
    expect(fact.textContent).toBe("GitHubacme/demo (GitHub App)");
  });

  it("makes a new workspace and opens it", async () => {
    const calls = mockApi(
      routes({ "POST /workspaces": { status: 201, body: { ...workspace, id: "wsp_2" } } }),
    );
    const user = userEvent.setup();
    open();
    await user.click(await screen.findByRole("button", { name: "New workspace" }));
    expect((await screen.findByTestId("location")).textContent).toBe("/workspaces/wsp_2");
    expect(writes(calls)).toMatchObject([
      { method: "POST", path: "/workspaces", body: { project: "prj_1" } },
    ]);
  });

  it("saves only the changed environment variables, a removed one as null", async () => {
    const calls = mockApi(
      routes({
        "PATCH /projects/demo": { body: { ...demo, env: { CI: "1" } } },
      }),
    );
    const user = userEvent.setup();
    open();
    const value = (await screen.findByLabelText("Value of LOG_LEVEL")) as HTMLInputElement;
    expect(value.value).toBe("debug");
    await user.click(screen.getByRole("button", { name: "Remove LOG_LEVEL" }));
    await user.click(screen.getByRole("button", { name: "Add variable" }));
    await user.type(screen.getByLabelText("Name of variable 1"), "CI");
    await user.type(screen.getByLabelText("Value of CI"), "1");
    await user.click(screen.getByRole("button", { name: "Save project" }));
    await waitFor(() => expect(writes(calls)).toHaveLength(1));
    expect(writes(calls)[0]).toMatchObject({
      method: "PATCH",
      path: "/projects/demo",
      body: { env: { LOG_LEVEL: null, CI: "1" } },
    });
  });

  it("makes a new workspace on the runtime chosen for it", async () => {
    const calls = mockApi(
      routes({ "POST /workspaces": { status: 201, body: { ...workspace, id: "wsp_2" } } }),
    );
    const user = userEvent.setup();
    open();
    const form = await screen.findByRole("form", { name: "New workspace" });
    await user.selectOptions(within(form).getByLabelText("Runtime"), "host");
    await user.click(within(form).getByRole("button", { name: "New workspace" }));
    await waitFor(() => expect(writes(calls)).toHaveLength(1));
    expect(writes(calls)[0]?.body).toEqual({ project: "prj_1", runtime: "host" });
  });

  it("saves the runtime and limits of new workspaces, a cleared limit as null", async () => {
    const calls = mockApi(
      routes({
        "GET /projects/demo": { body: { ...demo, cpus: 2 } },
        "PATCH /projects/demo": { body: { ...demo, runtime: "devcontainer" } },
      }),
    );
    const user = userEvent.setup();
    open();
    const settings = await screen.findByRole("region", { name: "Settings" });
    const cpus = (await within(settings).findByLabelText("CPUs")) as HTMLInputElement;
    expect(cpus.value).toBe("2");
    await user.selectOptions(within(settings).getByLabelText("Runtime"), "devcontainer");
    await user.clear(cpus);
    await user.type(within(settings).getByLabelText("Memory"), "4g");
    await user.click(within(settings).getByRole("button", { name: "Save project" }));
    await waitFor(() => expect(writes(calls)).toHaveLength(1));
    expect(writes(calls)[0]?.body).toEqual({
      runtime: "devcontainer",
      cpus: null,
      memory_bytes: 4 * 2 ** 30,
    });
  });

  it("says how to write an amount of memory before asking the server", async () => {
    const calls = mockApi(routes());
    const user = userEvent.setup();
    open();
    const settings = await screen.findByRole("region", { name: "Settings" });
    await user.type(await within(settings).findByLabelText("Memory"), "lots");
    expect(within(settings).getByRole("alert").textContent).toContain("Write it like 512m, 2g");
    const save = within(settings).getByRole("button", { name: "Save project" });
    expect((save as HTMLButtonElement).disabled).toBe(true);
    expect(writes(calls)).toEqual([]);
  });

  it("deletes the project only after confirming", async () => {
    const calls = mockApi(routes({ "DELETE /projects/prj_1": { status: 204 } }));
    const user = userEvent.setup();
    open();
    await user.click(await screen.findByRole("button", { name: "Delete demo" }));
    expect(writes(calls)).toHaveLength(0);
    const confirm = screen.getByRole("group", { name: "Delete demo" });
    await user.click(within(confirm).getByRole("button", { name: "Delete project" }));
    expect((await screen.findByTestId("location")).textContent).toBe("/projects");
    expect(writes(calls)).toMatchObject([{ method: "DELETE", path: "/projects/prj_1" }]);
  });

  it("says so when there is no such project", async () => {
    mockApi({ "GET /projects/demo": apiError(404, "not_found", "no project named 'demo'") });
    open();
    expect((await screen.findByRole("alert")).textContent).toContain("no project named 'demo'");
    expect(screen.getByRole("link", { name: "Back to projects" })).toBeTruthy();
  });
});
