// How Corral reaches a project's repository (`git_access`), and its repository on GitHub
// (`github_repo`), for the project list and the project page.

import type { Project } from "../../api/types.ts";

const ACCESS: Record<string, string> = {
  github_app: "GitHub App",
  credential: "token",
  anonymous: "anonymous",
};

/** "GitHub App", "token" (the project's or your github credential) or "anonymous". */
export function gitAccessLabel(access: string): string {
  return ACCESS[access] ?? access.replaceAll("_", " ");
}

/** `owner/name (GitHub App)`, or how a repository not on GitHub is reached. Only the name is
 * known here (not GitHub's web address), so it is shown as text. */
export function GitHubRepo({ project }: { project: Project }) {
  const access = gitAccessLabel(project.git_access);
  if (!project.github_repo) return <span className="muted">{access}</span>;
  return (
    <span>
      <code className="break">{project.github_repo}</code> <span className="muted">({access})</span>
    </span>
  );
}
