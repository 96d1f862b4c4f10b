import { Link } from "react-router";

import { useProjectPullRequests } from "../../api/pullRequests.ts";
import type { Project } from "../../api/types.ts";
import { LoadMore, QueryTable } from "../QueryTable.tsx";
import { Ago } from "../Time.tsx";

/** The pull requests this project's chats opened: where each went, and the chat it came from. */
export function ProjectPullRequests({ project }: { project: Project }) {
  const pulls = useProjectPullRequests(project.id, Boolean(project.github_repo));
  if (!project.github_repo) return null;
  return (
    <section aria-labelledby="project-pulls-heading" className="panel">
      <h2 id="project-pulls-heading">Pull requests</h2>
      <QueryTable
        query={pulls}
        what="pull requests"
        rows={pulls.data}
        empty="None yet. Open one from a chat: Open pull request."
        head={
          <>
            <th scope="col">Pull request</th>
            <th scope="col">State</th>
            <th scope="col" className="hide-narrow">
              Checks
            </th>
            <th scope="col" className="hide-narrow">
              Chat
            </th>
            <th scope="col">Updated</th>
          </>
        }
      >
        {(p) => (
          <tr key={p.id}>
            <td>
              <a href={p.url} target="_blank" rel="noreferrer">
                {p.repo}#{p.number}
              </a>{" "}
              <span className="muted">{p.title}</span>
            </td>
            <td>{p.state}</td>
            <td className="hide-narrow">{p.checks ?? <span className="muted">—</span>}</td>
            <td className="hide-narrow">
              {p.session_id ? (
                <Link to={`/sessions/${encodeURIComponent(p.session_id)}`}>chat</Link>
              ) : (
                <span className="muted">removed</span>
              )}
            </td>
            <td>
              <Ago at={p.updated_at} />
            </td>
          </tr>
        )}
      </QueryTable>
      <LoadMore query={pulls} label="Load older pull requests" />
    </section>
  );
}
