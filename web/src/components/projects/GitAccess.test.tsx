import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { demoProject, githubProject } from "../../testing/fixtures.ts";
import { GitHubRepo } from "./GitAccess.tsx";

afterEach(cleanup);

describe("GitHubRepo", () => {
  it("names the repository on GitHub and how Corral reaches it", () => {
    render(<GitHubRepo project={githubProject} />);
    expect(screen.getByText("acme/demo")).toBeTruthy();
    expect(screen.getByText("(GitHub App)")).toBeTruthy();
  });

  it("says how a project not on GitHub is reached", () => {
    const { container } = render(
      <GitHubRepo project={{ ...demoProject, git_access: "credential" }} />,
    );
    expect(container.textContent).toBe("token");
  });
});
