import type { ReactNode } from "react";

import { useNodes } from "../api/nodes.ts";
import type { Node } from "../api/types.ts";
import { isolationSummary } from "../lib/isolation.ts";
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
 * How the node confines workspaces: a short state, the detail as its title (and below it when
 * `detailed`), and what it lacks, if anything, behind a disclosure.
 */
function Sandbox({ node, detailed }: { node: Node; detailed: boolean }) {
  const summary = isolationSummary(node.capacity.isolation);
  if (!summary) return <span className="muted">—</span>;
  const problems = summary.problems;
  return (
    <>
      <span className={`badge badge-sandbox-${summary.level}`} title={summary.detail}>
        {summary.state}
      </span>
      {detailed && <div className="muted">{summary.detail}</div>}
      {problems.length > 0 && (
        <details className="sandbox-problems">
          <summary>{problems.length === 1 ? "1 problem" : `${problems.length} problems`}</summary>
          <ul>
            {problems.map((problem) => (
              <li key={problem}>{problem}</li>
            ))}
          </ul>
        </details>
      )}
    </>
  );
}

/**
 * The nodes with their state, sandbox, load and link. `detailed` adds the provider and
 * runtimes (one that cannot work there says so, and why in its title), why a node is in its
 * state, what its sandbox is made of, its CPUs, when it was last seen and its agent's
 * version; `actions`, a last column.
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
          <th scope="col">Sandbox</th>
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
                {node.runtimes.length > 0 && (
                  <div className="muted hide-narrow">
                    {node.runtimes.map((runtime, index) => (
                      <span key={runtime.name} title={runtime.problem ?? undefined}>
                        {index > 0 && ", "}
                        {runtime.name}
                        {!runtime.available && " (not available)"}
                      </span>
                    ))}
                  </div>
                )}
              </>
            )}
          </td>
          <td>
            <StateBadge state={node.state} />
            {detailed && node.state_reason && <div className="muted">{node.state_reason}</div>}
          </td>
          <td>
            <Sandbox node={node} detailed={detailed} />
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
              <td className="hide-narrow">{node.version ?? <span className="muted">—</span>}</td>
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
