import { Fragment, type ReactNode } from "react";

import { useNodes } from "../api/nodes.ts";
import type { Node } from "../api/types.ts";
import { isolationSummary } from "../lib/isolation.ts";
import { formatCost, formatHourly } from "../lib/money.ts";
import { machineKind, sshTarget } from "../lib/nodes.ts";
import { NodeStateDetail, NodeSteps, showsSteps } from "./NodeProgress.tsx";
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

/** The server an SSH node is on (its host key as the title), or a cloud node's size and region. */
function Machine({ node }: { node: Node }) {
  const target = sshTarget(node);
  if (target !== null) {
    const key = node.host_key_fingerprint;
    return <span title={key ? `Host key ${key}` : undefined}>{target}</span>;
  }
  if (node.machine_type === null) return <span className="muted">—</span>;
  return (
    <>
      {node.machine_type}
      {node.region && <span className="muted"> in {node.region}</span>}
    </>
  );
}

/** A cloud node's price per hour and what it has cost this month. */
function Cost({ node }: { node: Node }) {
  if (node.hourly_price === null || node.currency === null) return <span className="muted">—</span>;
  return (
    <>
      {formatHourly(node.hourly_price, node.currency)}
      {node.cost_this_month !== null && (
        <div className="muted">{formatCost(node.cost_this_month, node.currency)} this month</div>
      )}
    </>
  );
}

/**
 * The nodes with their state, sandbox, load and link. `detailed` adds the provider and
 * runtimes (one that cannot work there says so, and why in its title), why a node is in its
 * state (and, in a row below, the steps of making or removing it), its machine (a cloud's size
 * and region, an SSH server) and price when any node has them, what its sandbox is made of, its
 * CPUs, when it was last seen and its agent's version; `actions`, a last column.
 */
export function NodeTable({
  detailed = false,
  actions,
}: {
  detailed?: boolean;
  actions?: (node: Node) => ReactNode;
}) {
  const nodes = useNodes();
  const machines = detailed && nodes.data?.some((n) => machineKind(n) !== "manual");
  const priced = detailed && nodes.data?.some((n) => n.hourly_price !== null);
  const columns =
    4 + (detailed ? 2 : 1) + Number(!!machines) + Number(!!priced) + Number(!!actions);
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
          {machines && (
            <th scope="col" className="hide-narrow">
              Machine
            </th>
          )}
          {priced && (
            <th scope="col" className="num hide-narrow">
              Price
            </th>
          )}
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
        <Fragment key={node.id}>
          <tr>
            <td>
              <span className="nowrap">{node.name}</span>
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
              {detailed && <NodeStateDetail node={node} />}
            </td>
            {machines && (
              <td className="hide-narrow">
                <Machine node={node} />
              </td>
            )}
            {priced && (
              <td className="num hide-narrow">
                <Cost node={node} />
              </td>
            )}
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
          {detailed && showsSteps(node) && (
            <tr className="node-steps-row">
              <td colSpan={columns}>
                <NodeSteps node={node} />
              </td>
            </tr>
          )}
        </Fragment>
      )}
    </QueryTable>
  );
}
