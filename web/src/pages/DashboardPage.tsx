import { Link } from "react-router";

import {
  useActiveSessions,
  useActivity,
  useNodes,
  usePermissionRequests,
  useWorkspaces,
} from "../api/queries.ts";
import type { Node } from "../api/types.ts";
import { PermissionButtons } from "../components/PermissionButtons.tsx";
import { QueryStatus } from "../components/QueryStatus.tsx";
import { StateBadge } from "../components/StateBadge.tsx";
import { Ago, Elapsed } from "../components/Time.tsx";
import { useTitle } from "../hooks/useTitle.ts";

function formatLoad(node: Node): string {
  const load = node.usage.load1;
  return typeof load === "number" ? load.toFixed(2) : "—";
}

function NodesSection() {
  const nodes = useNodes();
  return (
    <section aria-labelledby="nodes-heading" className="panel">
      <h2 id="nodes-heading">Nodes</h2>
      <QueryStatus query={nodes} what="nodes" />
      {nodes.data &&
        (nodes.data.items.length === 0 ? (
          <p className="muted">No nodes yet.</p>
        ) : (
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">State</th>
                  <th scope="col" className="num">
                    Load (1 min)
                  </th>
                  <th scope="col">Connected</th>
                </tr>
              </thead>
              <tbody>
                {nodes.data.items.map((node) => (
                  <tr key={node.id}>
                    <td>{node.name}</td>
                    <td>
                      <StateBadge state={node.state} />
                    </td>
                    <td className="num">{formatLoad(node)}</td>
                    <td>{node.connected ? "yes" : "no"}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
    </section>
  );
}

function WorkspacesSection() {
  const workspaces = useWorkspaces();
  const nodes = useNodes();
  const nodeName = (id: string | null) =>
    id === null ? "—" : (nodes.data?.items.find((n) => n.id === id)?.name ?? id);
  return (
    <section aria-labelledby="workspaces-heading" className="panel">
      <h2 id="workspaces-heading">Workspaces</h2>
      <QueryStatus query={workspaces} what="workspaces" />
      {workspaces.data &&
        (workspaces.data.items.length === 0 ? (
          <p className="muted">No workspaces yet.</p>
        ) : (
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">State</th>
                  <th scope="col">Node</th>
                </tr>
              </thead>
              <tbody>
                {workspaces.data.items.map((ws) => (
                  <tr key={ws.id}>
                    <td>
                      <Link to={`/workspaces/${ws.id}`}>{ws.name}</Link>
                    </td>
                    <td>
                      <StateBadge state={ws.state} />
                    </td>
                    <td>{nodeName(ws.node_id)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        ))}
    </section>
  );
}

function SessionsSection() {
  const sessions = useActiveSessions();
  return (
    <section aria-labelledby="sessions-heading" className="panel panel-wide">
      <h2 id="sessions-heading">Sessions</h2>
      <p className="muted">Running, waiting or idle, and those that failed in the last day.</p>
      <QueryStatus query={sessions} what="sessions" />
      {sessions.data &&
        (sessions.data.items.length === 0 ? (
          <p className="muted">No active sessions.</p>
        ) : (
          <div className="table-scroll">
            <table>
              <thead>
                <tr>
                  <th scope="col">Session</th>
                  <th scope="col">Agent</th>
                  <th scope="col">State</th>
                  <th scope="col">Last message</th>
                  <th scope="col">For</th>
                </tr>
              </thead>
              <tbody>
                {sessions.data.items.map((s) => (
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
                ))}
              </tbody>
            </table>
          </div>
        ))}
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
              <li key={a.id}>
                <Ago at={a.created_at} /> <code>{a.action}</code>{" "}
                <span>{a.object_name ?? a.object_id}</span>
              </li>
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
