import { useLayoutEffect, useRef } from "react";

import { isSettling } from "../api/nodes.ts";
import type { Node } from "../api/types.ts";
import { formatAbsolute, formatClock } from "../lib/time.ts";

/** Whether `node`'s steps are worth showing: a provider works on it now, or it failed. */
export const showsSteps = (node: Node) =>
  node.bootstrap_log.length > 0 && (isSettling(node) || node.state === "error");

/** Why `node` is in its state, and the error that stopped it (or the last try's, while a
 * provider tries again), unless the reason says it already. */
export function NodeStateDetail({ node }: { node: Node }) {
  const failed = node.state === "error";
  const lastError =
    node.last_error && !node.state_reason?.includes(node.last_error) ? node.last_error : null;
  return (
    <>
      {node.state_reason && <div className={failed ? "error" : "muted"}>{node.state_reason}</div>}
      {lastError && (failed || isSettling(node)) && (
        <div className={failed ? "error" : "warning"}>
          {failed ? lastError : `The last try failed: ${lastError}`}
        </div>
      )}
    </>
  );
}

/** The steps of making `node`'s machine and bootstrapping it (or removing it), with their
 * times; the nodes list is read every second or two while a provider works on it, and the
 * newest step stays in view unless you scrolled back. */
export function NodeSteps({ node }: { node: Node }) {
  const list = useRef<HTMLOListElement>(null);
  const following = useRef(true);
  const newest = node.bootstrap_log.at(-1)?.at;
  useLayoutEffect(() => {
    if (list.current && following.current) list.current.scrollTop = list.current.scrollHeight;
  }, [newest]);
  const onScroll = () => {
    const el = list.current;
    if (el) following.current = el.scrollHeight - el.scrollTop - el.clientHeight < 8;
  };
  return (
    <details className="node-steps" open>
      <summary>Steps{isSettling(node) && <span className="muted"> (following)</span>}</summary>
      <ol role="log" aria-label={`Steps of ${node.name}`} ref={list} onScroll={onScroll}>
        {node.bootstrap_log.map((line, index) => (
          <li key={index}>
            <time dateTime={line.at} title={formatAbsolute(line.at)}>
              {formatClock(line.at)}
            </time>{" "}
            {line.step}
          </li>
        ))}
      </ol>
    </details>
  );
}
