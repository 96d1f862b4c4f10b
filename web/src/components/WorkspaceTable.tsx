import { Link } from "react-router";

import { useNodes } from "../api/nodes.ts";
import type { Page, Workspace } from "../api/types.ts";
import { QueryTable } from "./QueryTable.tsx";
import { StateBadge } from "./StateBadge.tsx";
import { Ago } from "./Time.tsx";
import { IdleCountdown } from "./workspace/IdleCountdown.tsx";

export const workspacePath = (id: string) => `/workspaces/${encodeURIComponent(id)}`;

/**
 * Workspaces, each linking to its page, with their state and node; `detailed` adds the branch,
 * why a workspace is in its state, and when it was made (and hides the node on narrow screens).
 */
export function WorkspaceTable({
  workspaces,
  detailed = false,
}: {
  workspaces: { isPending: boolean; error: unknown; data?: Page<Workspace> };
  detailed?: boolean;
}) {
  const nodes = useNodes();
  const nodeName = (id: string | null) =>
    id === null ? "—" : (nodes.data?.find((n) => n.id === id)?.name ?? id);
  const narrow = detailed ? "hide-narrow" : undefined;
  return (
    <QueryTable
      query={workspaces}
      what="workspaces"
      rows={workspaces.data?.items}
      empty="No workspaces yet."
      head={
        <>
          <th scope="col">Name</th>
          {detailed && <th scope="col">Branch</th>}
          <th scope="col">State</th>
          <th scope="col" className={narrow}>
            Node
          </th>
          {detailed && (
            <th scope="col" className="hide-narrow">
              Created
            </th>
          )}
        </>
      }
    >
      {(ws) => (
        <tr key={ws.id}>
          <td>
            <Link to={workspacePath(ws.id)}>{ws.name}</Link>
          </td>
          {detailed && (
            <td>
              <code>{ws.branch}</code>
            </td>
          )}
          <td>
            <StateBadge state={ws.state} />
            {detailed && ws.state_reason && <div className="muted">{ws.state_reason}</div>}
            <div>
              <IdleCountdown workspace={ws} />
            </div>
          </td>
          <td className={narrow}>{nodeName(ws.node_id)}</td>
          {detailed && (
            <td className="hide-narrow">
              <Ago at={ws.created_at} />
            </td>
          )}
        </tr>
      )}
    </QueryTable>
  );
}
