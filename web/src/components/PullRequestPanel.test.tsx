import { cleanup, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";

import { apiError, mockApi, renderPage, writes, type FakeResponse } from "../testing/api.tsx";
import {
  demoProject,
  githubProject,
  pullRequest,
  session as sessionFixture,
} from "../testing/fixtures.ts";
import { PullRequestPanel } from "./PullRequestPanel.tsx";

const session = sessionFixture({ title: "Fix the login bug", state: "idle" });
const noPullRequest = apiError(404, "not_found", "session ses_1 has no pull request yet");

afterEach(cleanup);

describe("PullRequestPanel", () => {
  it("opens a pull request, says it is pushing meanwhile, then links it", async () => {
    let answer!: (response: FakeResponse) => void;
    const calls = mockApi({
      "GET /projects/prj_1": { body: githubProject },
      "GET /sessions/ses_1/pull-request": noPullRequest,
      "POST /sessions/ses_1/pull-request": () =>
        new Promise<FakeResponse>((resolve) => (answer = resolve)),
    });
    const user = userEvent.setup();
    renderPage(<PullRequestPanel session={session} />);

    await user.click(await screen.findByRole("button", { name: "Open pull request" }));
    const form = screen.getByRole("form", { name: "Open pull request" });
    const title = within(form).getByLabelText("Title") as HTMLInputElement;
    expect(title.value).toBe("Fix the login bug"); // the chat's title
    await user.clear(title);
    await user.type(title, "Fix login");
    await user.click(within(form).getByLabelText("Draft"));
    await user.click(within(form).getByRole("button", { name: "Open pull request" }));

    expect((await screen.findByRole("status")).textContent).toBe("Committing and pushing…");
    expect(writes(calls)).toMatchObject([
      {
        method: "POST",
        path: "/sessions/ses_1/pull-request",
        body: { title: "Fix login", draft: true },
      },
    ]);
    answer({ body: pullRequest({ title: "Fix login" }) });

    const link = await screen.findByRole("link", { name: "acme/demo#7" });
    expect(link.getAttribute("href")).toBe("https://github.com/acme/demo/pull/7");
    expect(screen.getByText("open")).toBeTruthy();
    expect(screen.queryByRole("form")).toBeNull();
    // The same request now pushes to it.
    expect(screen.getByRole("button", { name: "Push to pull request" })).toBeTruthy();
  });

  it("shows the API's message when the push fails, and keeps the form", async () => {
    mockApi({
      "GET /projects/prj_1": { body: githubProject },
      "GET /sessions/ses_1/pull-request": noPullRequest,
      "POST /sessions/ses_1/pull-request": apiError(
        400,
        "not_a_github_project",
        "project demo is not a GitHub repository Corral can reach",
      ),
    });
    const user = userEvent.setup();
    renderPage(<PullRequestPanel session={session} />);
    await user.click(await screen.findByRole("button", { name: "Open pull request" }));
    const form = screen.getByRole("form", { name: "Open pull request" });
    await user.click(within(form).getByRole("button", { name: "Open pull request" }));
    const alert = await screen.findByRole("alert");
    expect(alert.textContent).toContain("project demo is not a GitHub repository Corral can reach");
    expect(alert.textContent).toContain("not_a_github_project");
    expect(screen.getByRole("form", { name: "Open pull request" })).toBeTruthy();
  });

  it("pushes to the open pull request with only a commit message", async () => {
    const calls = mockApi({
      "GET /projects/prj_1": { body: githubProject },
      "GET /sessions/ses_1/pull-request": { body: pullRequest({ review_requested: "octocat" }) },
      "POST /sessions/ses_1/pull-request": { body: pullRequest() },
    });
    const user = userEvent.setup();
    renderPage(<PullRequestPanel session={session} />);
    expect(await screen.findByText(/review requested from octocat/)).toBeTruthy();
    await user.click(screen.getByRole("button", { name: "Push to pull request" }));
    const form = screen.getByRole("form", { name: "Push to pull request" });
    expect(within(form).queryByLabelText("Draft")).toBeNull();
    await user.click(within(form).getByRole("button", { name: "Push to pull request" }));
    await vi.waitFor(() => expect(screen.queryByRole("form")).toBeNull());
    expect(writes(calls).map((c) => c.body)).toEqual([{ draft: false }]);
  });

  it("shows a failed check, folded, and sends it to the agent", async () => {
    const calls = mockApi({
      "GET /projects/prj_1": { body: githubProject },
      "GET /sessions/ses_1/pull-request": {
        body: pullRequest({
          checks: "failed",
          failed_check: "tests (failure)\n3 tests failed in test_login.py",
        }),
      },
      "POST /sessions/ses_1/pull-request/fix": {
        status: 202,
        body: { prompt_id: "p1", queued: 0 },
      },
    });
    const user = userEvent.setup();
    renderPage(<PullRequestPanel session={session} />);
    expect(await screen.findByText("checks failed")).toBeTruthy();
    const details = screen.getByText(/Failed check:/).closest("details")!;
    expect(details.open).toBe(false);
    expect(details.textContent).toContain("3 tests failed in test_login.py");

    await user.click(screen.getByRole("button", { name: "Send to the agent" }));
    expect((await screen.findByRole("status")).textContent).toBe("Sent to the agent.");
    expect(writes(calls)).toMatchObject([
      { method: "POST", path: "/sessions/ses_1/pull-request/fix" },
    ]);
  });

  it("shows nothing for a project not on GitHub", async () => {
    const calls = mockApi({ "GET /projects/prj_1": { body: demoProject } });
    renderPage(
      <>
        <p>chat</p>
        <PullRequestPanel session={session} />
      </>,
    );
    await vi.waitFor(() => expect(calls.map((c) => c.path)).toEqual(["/projects/prj_1"]));
    await screen.findByText("chat");
    expect(screen.queryByRole("button")).toBeNull();
    expect(calls.map((c) => c.path)).toEqual(["/projects/prj_1"]);
  });
});
