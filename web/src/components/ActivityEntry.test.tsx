import { cleanup, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import type { Activity } from "../api/types.ts";
import { NOW, renderPage } from "../testing/api.tsx";
import { ActivityEntry } from "./ActivityEntry.tsx";

const event = (changes: Partial<Activity>): Activity => ({
  id: 1,
  actor_id: null,
  action: "pull_request.merged",
  object_type: "pull_request",
  object_id: "pr_1",
  object_name: "acme/demo#7",
  details: { url: "https://github.com/acme/demo/pull/7", session_id: "ses_1" },
  created_at: NOW,
  ...changes,
});

const feed = (...events: Activity[]) =>
  renderPage(
    <ol>
      {events.map((e) => (
        <ActivityEntry key={e.id} event={e} />
      ))}
    </ol>,
  );

afterEach(cleanup);

describe("ActivityEntry", () => {
  it("reads a pull request event as a sentence linking the pull request and the chat", () => {
    feed(event({}));
    const item = screen.getByRole("listitem");
    expect(item.textContent).toContain("Pull request acme/demo#7 was merged");
    const link = screen.getByRole("link", { name: "acme/demo#7" });
    expect(link.getAttribute("href")).toBe("https://github.com/acme/demo/pull/7");
    expect(screen.getByRole("link", { name: "the chat" }).getAttribute("href")).toBe(
      "/sessions/ses_1",
    );
  });

  it("says who was asked to review, and which check failed", () => {
    feed(
      event({ id: 1, action: "pull_request.review_requested", details: { reviewer: "octocat" } }),
      event({
        id: 2,
        action: "pull_request.check_failed",
        details: { check: "tests", url: "https://github.com/acme/demo/runs/9" },
      }),
      event({ id: 3, action: "pull_request.pushed", details: { files: 3 } }),
    );
    const [review, check, pushed] = screen.getAllByRole("listitem").map((li) => li.textContent);
    expect(review).toContain("Review of acme/demo#7 requested from octocat");
    expect(check).toContain("Check tests failed on acme/demo#7");
    expect(screen.getByRole("link", { name: "tests" }).getAttribute("href")).toBe(
      "https://github.com/acme/demo/runs/9",
    );
    expect(pushed).toContain("Pushed to pull request acme/demo#7 (3 files)");
  });

  it("shows other events by their action and object", () => {
    feed(
      event({
        action: "project.created",
        object_type: "project",
        object_name: "demo",
        details: {},
      }),
    );
    expect(screen.getByRole("listitem").textContent).toContain("project.created demo");
    expect(screen.queryByRole("link")).toBeNull();
  });
});
