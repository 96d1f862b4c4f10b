import { Link } from "react-router";

import { useProjects } from "../api/queries.ts";
import { GitHubRepo } from "../components/projects/GitAccess.tsx";
import { AddProjectForm } from "../components/projects/AddProjectForm.tsx";
import { LoadMore, QueryTable } from "../components/QueryTable.tsx";
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
          <QueryTable
            query={projects}
            what="projects"
            rows={projects.data}
            empty="No projects yet. Add one below."
            head={
              <>
                <th scope="col">Name</th>
                <th scope="col">Repository</th>
                <th scope="col">Access</th>
                <th scope="col">Default branch</th>
              </>
            }
          >
            {(p) => (
              <tr key={p.id}>
                <td>
                  <Link to={`/projects/${encodeURIComponent(p.name)}`}>{p.name}</Link>
                </td>
                <td>
                  <code className="break">{p.repo}</code>
                </td>
                <td>
                  <GitHubRepo project={p} />
                </td>
                <td>
                  <code>{p.default_branch}</code>
                </td>
              </tr>
            )}
          </QueryTable>
          <LoadMore query={projects} />
        </section>
        <AddProjectForm />
      </div>
    </>
  );
}
