import { useProjects } from "../api/queries.ts";
import { QueryStatus, ErrorMessage } from "../components/QueryStatus.tsx";
import { useTitle } from "../hooks/useTitle.ts";

export function ProjectsPage() {
  useTitle("Projects");
  const projects = useProjects();
  return (
    <>
      <h1>Projects</h1>
      <QueryStatus query={projects} what="projects" />
      {projects.data &&
        (projects.data.length === 0 ? (
          <p className="muted">
            No projects yet. Add one with <code>corral project add NAME --repo R</code>.
          </p>
        ) : (
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
                  <td>{p.name}</td>
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
    </>
  );
}
