import { Link } from "react-router";

import { useProjects } from "../api/queries.ts";
import { AddProjectForm } from "../components/projects/AddProjectForm.tsx";
import { QueryStatus, ErrorMessage } from "../components/QueryStatus.tsx";
import { useTitle } from "../hooks/useTitle.ts";

export function ProjectsPage() {
  useTitle("Projects");
  const projects = useProjects();
  return (
    <>
      <h1>Projects</h1>
      <div className="stack">
        <section aria-labelledby="project-list-heading" className="panel">
          <h2 id="project-list-heading" className="visually-hidden">
            Your projects
          </h2>
          <QueryStatus query={projects} what="projects" />
          {projects.data &&
            (projects.data.length === 0 ? (
              <p className="muted">No projects yet. Add one below.</p>
            ) : (
              <div className="table-scroll">
                <table>
                  <thead>
                    <tr>
                      <th scope="col">Name</th>
                      <th scope="col">Repository</th>
                      <th scope="col">Default branch</th>
                    </tr>
                  </thead>
                  <tbody>
                    {projects.data.map((p) => (
                      <tr key={p.id}>
                        <td>
                          <Link to={`/projects/${encodeURIComponent(p.name)}`}>{p.name}</Link>
                        </td>
                        <td>
                          <code className="break">{p.repo}</code>
                        </td>
                        <td>
                          <code>{p.default_branch}</code>
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              </div>
            ))}
          {projects.hasNextPage && (
            <p>
              <button
                type="button"
                onClick={() => void projects.fetchNextPage()}
                disabled={projects.isFetchingNextPage}
              >
                {projects.isFetchingNextPage ? "Loading…" : "Load more"}
              </button>
            </p>
          )}
          {projects.isFetchNextPageError && <ErrorMessage error={projects.error} />}
        </section>
        <AddProjectForm />
      </div>
    </>
  );
}
