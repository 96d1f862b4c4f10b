import { Link } from "react-router";

import { useProjectSessions, useProjectWorkspaces } from "../../api/queries.ts";
import type { Project } from "../../api/types.ts";
import { LoadMore, QueryTable } from "../QueryTable.tsx";
import { StateBadge } from "../StateBadge.tsx";
import { Ago } from "../Time.tsx";

/** Every session of the project, whatever its state, including those of removed workspaces. */
export function ProjectSessions({ project }: { project: Project }) {
  const sessions = useProjectSessions(project.id);
  const workspaces = useProjectWorkspaces(project.id); // shares the workspaces section's cache
  const workspaceName = (id: string | null) => {
    if (id === null) return <span className="muted">removed</span>;
    return (
      workspaces.data?.items.find((w) => w.id === id)?.name ?? (
        <span className="muted">removed</span>
      )
    );
  };
  return (
    <section aria-labelledby="project-sessions-heading" className="panel">
      <h2 id="project-sessions-heading">Chat history</h2>
      <QueryTable
        query={sessions}
        what="sessions"
        rows={sessions.data}
        empty="No sessions yet. Start one from a workspace."
        head={
          <>
            <th scope="col">Session</th>
            <th scope="col" className="hide-narrow">
              Agent
            </th>
            <th scope="col">State</th>
            <th scope="col" className="hide-narrow">
              Workspace
            </th>
            <th scope="col" className="hide-narrow">
              Last message
            </th>
            <th scope="col">Updated</th>
          </>
        }
      >
        {(s) => (
          <tr key={s.id}>
            <td>
              <Link to={`/sessions/${encodeURIComponent(s.id)}`}>
                {s.title || `${s.agent} session`}
              </Link>
            </td>
            <td className="hide-narrow">{s.agent}</td>
            <td>
              <StateBadge state={s.state} />
            </td>
            <td className="hide-narrow">{workspaceName(s.workspace_id)}</td>
            <td className="truncate hide-narrow" title={s.last_message ?? undefined}>
              {s.last_message ?? <span className="muted">—</span>}
            </td>
            <td>
              <Ago at={s.updated_at} />
            </td>
          </tr>
        )}
      </QueryTable>
      <LoadMore query={sessions} label="Load older sessions" />
    </section>
  );
}
