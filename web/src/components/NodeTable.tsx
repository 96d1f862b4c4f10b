import type { ReactNode } from "react";

import { useNodes } from "../api/queries.ts";
import type { Node } from "../api/types.ts";
import { QueryTable } from "./QueryTable.tsx";
import { StateBadge } from "./StateBadge.tsx";
import { Ago } from "./Time.tsx";

function load(node: Node, withCpus: boolean): string {
  const load1 = node.usage.load1;
  const cpus = node.capacity.cpus;
  if (typeof load1 !== "number") return "—";
  return withCpus && typeof cpus === "number"
    ? `${load1.toFixed(2)} / ${cpus} CPUs`
    : load1.toFixed(2);
}

/**
 * The nodes with their state, load and link. `detailed` adds the provider, why a node is in its
 * state, its CPUs, when it was last seen and its agent's version; `actions`, a last column.
 */
export function NodeTable({
  detailed = false,
  actions,
}: {
  detailed?: boolean;
  actions?: (node: Node) => ReactNode;
}) {
  const nodes = useNodes();
  return (
    <QueryTable
      query={nodes}
      what="nodes"
      rows={nodes.data}
      empty="No nodes yet."
      head={
        <>
          <th scope="col">Name</th>
          <th scope="col">State</th>
          <th scope="col" className="num">
            Load (1 min)
          </th>
          {detailed ? (
            <>
              <th scope="col" className="hide-narrow">
                Link
              </th>
              <th scope="col" className="hide-narrow">
                Version
              </th>
            </>
          ) : (
            <th scope="col">Connected</th>
          )}
          {actions && (
            <th scope="col">
              <span className="visually-hidden">Actions</span>
            </th>
          )}
        </>
      }
    >
      {(node) => (
        <tr key={node.id}>
          <td>
            {node.name}
            {detailed && (
              <>
                <br />
                <span className="muted">{node.provider}</span>
              </>
            )}
          </td>
          <td>
            <StateBadge state={node.state} />
            {detailed && node.state_reason && <div className="muted">{node.state_reason}</div>}
          </td>
          <td className="num">{load(node, detailed)}</td>
          {detailed ? (
            <>
              <td className="hide-narrow">
                {node.connected ? "connected" : "not connected"}
                {node.last_seen_at && (
                  <div className="muted">
                    seen <Ago at={node.last_seen_at} />
                  </div>
                )}
              </td>
              <td className="hide-narrow">
                {node.agent_version ?? <span className="muted">—</span>}
              </td>
            </>
          ) : (
            <td>{node.connected ? "yes" : "no"}</td>
          )}
          {actions && <td>{actions(node)}</td>}
        </tr>
      )}
    </QueryTable>
  );
}
