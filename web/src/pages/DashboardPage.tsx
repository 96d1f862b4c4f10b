import { Link } from "react-router";

import {
  useActiveSessions,
  useActivity,
  usePermissionRequests,
  useWorkspaces,
} from "../api/queries.ts";
import { ActivityEntry } from "../components/ActivityEntry.tsx";
import { CloudSpend } from "../components/CloudSpend.tsx";
import { NodeTable } from "../components/NodeTable.tsx";
import { PermissionButtons } from "../components/PermissionButtons.tsx";
import { QueryStatus } from "../components/QueryStatus.tsx";
import { QueryTable } from "../components/QueryTable.tsx";
import { StateBadge } from "../components/StateBadge.tsx";
import { Ago, Elapsed } from "../components/Time.tsx";
import { WorkspaceTable } from "../components/WorkspaceTable.tsx";
import { useTitle } from "../hooks/useTitle.ts";

function NodesSection() {
  return (
    <section aria-labelledby="nodes-heading" className="panel">
      <h2 id="nodes-heading">Nodes</h2>
      <CloudSpend />
      <NodeTable />
    </section>
  );
}

function WorkspacesSection() {
  const workspaces = useWorkspaces();
  return (
    <section aria-labelledby="workspaces-heading" className="panel">
      <h2 id="workspaces-heading">Workspaces</h2>
      <WorkspaceTable workspaces={workspaces} />
    </section>
  );
}

function SessionsSection() {
  const sessions = useActiveSessions();
  return (
    <section aria-labelledby="sessions-heading" className="panel panel-wide">
      <h2 id="sessions-heading">Sessions</h2>
      <p className="muted">Running, waiting or idle, and those that failed in the last day.</p>
      <QueryTable
        query={sessions}
        what="sessions"
        rows={sessions.data?.items}
        empty="No active sessions."
        head={
          <>
            <th scope="col">Session</th>
            <th scope="col">Agent</th>
            <th scope="col">State</th>
            <th scope="col">Last message</th>
            <th scope="col">For</th>
          </>
        }
      >
        {(s) => (
          <tr key={s.id}>
            <td>
              <Link to={`/sessions/${encodeURIComponent(s.id)}`}>{s.title || s.id}</Link>
            </td>
            <td>{s.agent}</td>
            <td>
              <StateBadge state={s.state} />
            </td>
            <td className="truncate" title={s.last_message ?? undefined}>
              {s.last_message ?? <span className="muted">—</span>}
            </td>
            <td>
              <Elapsed since={s.state_changed_at} />
            </td>
          </tr>
        )}
      </QueryTable>
    </section>
  );
}

function PermissionsSection() {
  const requests = usePermissionRequests();
  const sessions = useActiveSessions(); // shares the sessions section's cache
  const sessionName = (id: string) => {
    const session = sessions.data?.items.find((s) => s.id === id);
    return session ? session.title || `${session.agent} session` : "session";
  };
  return (
    <section aria-labelledby="permissions-heading" className="panel panel-wide">
      <h2 id="permissions-heading">Pending permission requests</h2>
      <QueryStatus query={requests} what="permission requests" />
      {requests.data &&
        (requests.data.items.length === 0 ? (
          <p className="muted">Nothing is waiting for you.</p>
        ) : (
          <ul className="cards">
            {requests.data.items.map((r) => {
              const title = r.tool_call.title || "The agent asks for permission";
              return (
                <li key={r.id} className="permission permission-pending">
                  <p>
                    <strong>{title}</strong>{" "}
                    <span className="muted">
                      in{" "}
                      <Link to={`/sessions/${encodeURIComponent(r.session_id)}`}>
                        {sessionName(r.session_id)}
                      </Link>
                      , <Ago at={r.created_at} />
                    </span>
                  </p>
                  <PermissionButtons requestId={r.id} options={r.options} label={title} />
                </li>
              );
            })}
          </ul>
        ))}
    </section>
  );
}

function ActivitySection() {
  const activity = useActivity(20);
  return (
    <section aria-labelledby="activity-heading" className="panel panel-wide">
      <h2 id="activity-heading">Activity</h2>
      <QueryStatus query={activity} what="activity" />
      {activity.data &&
        (activity.data.items.length === 0 ? (
          <p className="muted">Nothing has happened yet.</p>
        ) : (
          <ol className="activity">
            {activity.data.items.map((a) => (
              <ActivityEntry key={a.id} event={a} />
            ))}
          </ol>
        ))}
    </section>
  );
}

export function DashboardPage() {
  useTitle("Dashboard");
  return (
    <>
      <h1>Dashboard</h1>
      <div className="dashboard">
        <PermissionsSection />
        <SessionsSection />
        <NodesSection />
        <WorkspacesSection />
        <ActivitySection />
      </div>
    </>
  );
}
