import { memo } from "react";

import type { ItemOf, PermissionDecision, TranscriptItem } from "../lib/transcript.ts";
import { PermissionButtons } from "./PermissionButtons.tsx";
import { ToolContent } from "./ToolContent.tsx";

const STATUS_MARKS: Record<string, string> = {
  pending: "…",
  in_progress: "▸",
  completed: "✓",
  failed: "✗",
};

const PLAN_MARKS: Record<string, string> = {
  pending: "☐",
  in_progress: "◐",
  completed: "☑",
};

function ToolCard({ item }: { item: ItemOf<"tool"> }) {
  return (
    <article className={`tool tool-${item.status}`} aria-label={`Tool call: ${item.title}`}>
      <header className="tool-header">
        <span className="tool-mark" aria-hidden="true">
          {STATUS_MARKS[item.status] ?? "?"}
        </span>
        <strong className="tool-title">{item.title}</strong>
        <span className="tag">{item.kind}</span>
        <span className="tool-status">{item.status.replaceAll("_", " ")}</span>
      </header>
      {item.locations.length > 0 && (
        <ul className="tool-locations">
          {item.locations.map((path) => (
            <li key={path}>
              <code>{path}</code>
            </li>
          ))}
        </ul>
      )}
      <ToolContent content={item.content} />
    </article>
  );
}

function Plan({ item }: { item: ItemOf<"plan"> }) {
  return (
    <section className="plan" aria-label="Plan">
      <h3>Plan</h3>
      <ul>
        {item.entries.map((entry, i) => (
          <li key={i} className={`plan-${entry.status}`}>
            <span aria-hidden="true">{PLAN_MARKS[entry.status] ?? "☐"} </span>
            <span className="visually-hidden">{entry.status.replaceAll("_", " ")}: </span>
            {entry.content}
          </li>
        ))}
      </ul>
    </section>
  );
}

function decisionText(item: ItemOf<"permission">, decision: PermissionDecision): string {
  if (decision.outcome === "cancelled" || decision.optionId === null) {
    return decision.policy ? `Cancelled (${decision.policy})` : "Cancelled";
  }
  const option = item.options.find((o) => o.optionId === decision.optionId);
  const answer = option?.name ?? decision.optionId;
  const who = decision.policy ? `policy ${decision.policy}` : decision.by ? "you" : "Corral";
  return `Answered “${answer}” (${who})`;
}

function Permission({ item, canAnswer }: { item: ItemOf<"permission">; canAnswer: boolean }) {
  const pending = item.decision === null;
  return (
    <article
      className={`permission${pending ? " permission-pending" : ""}`}
      aria-label={`Permission request: ${item.title}`}
    >
      <header>
        <strong>Permission:</strong> {item.title}
      </header>
      <ToolContent content={item.content} />
      {item.decision !== null ? (
        <p className="muted">{decisionText(item, item.decision)}</p>
      ) : canAnswer ? (
        <PermissionButtons requestId={item.requestId} options={item.options} label={item.title} />
      ) : (
        <p className="muted">Not answered.</p>
      )}
    </article>
  );
}

const Item = memo(function Item({
  item,
  canAnswer,
}: {
  item: TranscriptItem;
  canAnswer: boolean;
}) {
  switch (item.type) {
    case "user":
      return (
        <div className="bubble bubble-user">
          <span className="visually-hidden">You: </span>
          <p className="text">{item.text}</p>
          {item.resources.length > 0 && (
            <ul className="resources" aria-label="Attached files">
              {item.resources.map((r) => (
                <li key={r}>
                  <code>{r}</code>
                </li>
              ))}
            </ul>
          )}
        </div>
      );
    case "agent":
      return (
        <div className="bubble bubble-agent">
          <span className="visually-hidden">Agent: </span>
          <p className="text">{item.text}</p>
        </div>
      );
    case "thought":
      return (
        <details className="thought">
          <summary>Thinking</summary>
          <p className="text">{item.text}</p>
        </details>
      );
    case "tool":
      return <ToolCard item={item} />;
    case "plan":
      return <Plan item={item} />;
    case "turn_end":
      return item.error ? (
        <p className="turn-end turn-end-error">Turn failed: {item.error}</p>
      ) : (
        <p className="turn-end">Turn ended: {item.stopReason ?? "unknown"}</p>
      );
    case "permission":
      return <Permission item={item} canAnswer={canAnswer} />;
    case "terminal":
      return (
        <details className="terminal">
          <summary>
            <code>$ {item.command}</code>
            {item.exitCode !== null && <span className="muted"> (exit {item.exitCode})</span>}
          </summary>
          <pre>{item.output + (item.truncated ? "\n… (truncated)" : "")}</pre>
        </details>
      );
    case "install":
      return (
        <details className="install">
          <summary>Installing the agent ({item.lines.length} lines)</summary>
          <pre>{item.lines.join("\n")}</pre>
        </details>
      );
    case "notice":
      return (
        <div className={`notice notice-${item.tone}`}>
          <p>{item.text}</p>
          {item.detail.length > 0 && <pre>{item.detail.join("\n")}</pre>}
        </div>
      );
  }
});

/** A session's transcript, oldest first. */
export function Transcript({
  items,
  canAnswer,
}: {
  items: readonly TranscriptItem[];
  /** Whether pending permission requests get their option buttons (the session is live). */
  canAnswer: boolean;
}) {
  return (
    <ol className="transcript">
      {items.map((item) => (
        <li key={item.key} data-seq={item.seq}>
          <Item item={item} canAnswer={canAnswer} />
        </li>
      ))}
    </ol>
  );
}
