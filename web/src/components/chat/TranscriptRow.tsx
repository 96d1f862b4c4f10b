import { memo } from "react";

import type { ItemOf, TokenUsage, TranscriptItem } from "../../lib/transcript.ts";
import { formatTokens } from "../UsageSummary.tsx";
import { Disclosure } from "./Disclosure.tsx";
import { Markdown } from "./Markdown.tsx";
import { PlanChecklist } from "./PlanChecklist.tsx";
import { TerminalOutput } from "./TerminalOutput.tsx";
import { Thinking } from "./Thinking.tsx";
import { PermissionCard, ToolCallCard } from "./ToolCallCard.tsx";

const STOP_REASONS: Record<string, string> = {
  end_turn: "Turn ended",
  cancelled: "Turn cancelled",
  max_tokens: "Turn stopped: the model's token limit was reached",
  max_turn_requests: "Turn stopped: too many model requests in one turn",
  refusal: "The agent refused to continue",
};

function usageText(usage: TokenUsage | null): string | null {
  if (!usage) return null;
  const parts = [
    usage.input_tokens !== null && `${formatTokens(usage.input_tokens)} in`,
    usage.output_tokens !== null && `${formatTokens(usage.output_tokens)} out`,
  ].filter((part): part is string => typeof part === "string");
  if (parts.length === 0 && usage.total_tokens !== null) {
    parts.push(`${formatTokens(usage.total_tokens)} tokens`);
  }
  return parts.length > 0 ? parts.join(" / ") : null;
}

function TurnEnd({ item }: { item: ItemOf<"turn_end"> }) {
  if (item.error) return <p className="turn-end turn-end-error">Turn failed: {item.error}</p>;
  const reason = item.stopReason ?? "unknown";
  const usage = usageText(item.usage);
  return (
    <p className="turn-end">
      {STOP_REASONS[reason] ?? `Turn ended: ${reason}`}
      {usage && <span className="turn-usage"> · {usage}</span>}
    </p>
  );
}

function json(value: unknown): string {
  try {
    return JSON.stringify(value, null, 2) ?? String(value);
  } catch {
    return String(value);
  }
}

function Unknown({ item }: { item: ItemOf<"unknown"> }) {
  const raw = item.raw as { truncated?: unknown; bytes?: unknown } | null;
  const truncated = typeof raw === "object" && raw !== null && raw.truncated === true;
  const kiB = truncated && typeof raw.bytes === "number" ? Math.round(raw.bytes / 1024) : null;
  return (
    <Disclosure
      className="unknown-update muted"
      stateKey={item.key}
      summary={
        truncated ? (
          <>
            {item.source} <code>{item.kind}</code> too large to record
            {kiB !== null && ` (${kiB} KiB)`}; a preview
          </>
        ) : (
          <>
            unknown {item.source} <code>{item.kind}</code>
          </>
        )
      }
    >
      <pre className="unknown-json">{json(item.raw)}</pre>
    </Disclosure>
  );
}

function Commands({ item }: { item: ItemOf<"commands"> }) {
  const count = item.commands.length;
  return (
    <Disclosure
      className="status-row"
      stateKey={item.key}
      summary={`${count} command${count === 1 ? "" : "s"} available`}
    >
      <ul className="command-list">
        {item.commands.map((c) => (
          <li key={c.name}>
            <code>/{c.name}</code>
            {c.hint && <span className="muted"> {c.hint}</span>}
            {c.description && <span> — {c.description}</span>}
          </li>
        ))}
      </ul>
    </Disclosure>
  );
}

/** One transcript item. `isLast`: it is the newest (a thought still streams). */
export const TranscriptRow = memo(function TranscriptRow({
  item,
  canAnswer,
  isLast,
}: {
  item: TranscriptItem;
  canAnswer: boolean;
  isLast: boolean;
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
          <Markdown text={item.text} />
        </div>
      );
    case "thought":
      return <Thinking text={item.text} streaming={isLast} stateKey={item.key} />;
    case "tool":
      return <ToolCallCard item={item} canAnswer={canAnswer} />;
    case "plan":
      return <PlanChecklist entries={item.entries} />;
    case "turn_end":
      return <TurnEnd item={item} />;
    case "permission":
      return <PermissionCard item={item} canAnswer={canAnswer} />;
    case "terminal":
      return item.embedded ? (
        <p className="status-row">
          <code>$ {item.run.command}</code> ran; its output is in the tool call above.
        </p>
      ) : (
        <TerminalOutput
          run={item.run}
          terminalId={item.run.terminalId}
          collapsible
          stateKey={item.key}
        />
      );
    case "install":
      return (
        <Disclosure
          className="install"
          stateKey={item.key}
          summary={`Installing the agent (${item.lines.length} lines)`}
        >
          <pre>{item.lines.join("\n")}</pre>
        </Disclosure>
      );
    case "notice":
      return (
        <div className={`notice notice-${item.tone}`}>
          <p>{item.text}</p>
          {item.detail.length > 0 && <pre>{item.detail.join("\n")}</pre>}
        </div>
      );
    case "mode":
      return (
        <p className="status-row">
          Mode: <strong>{item.name ?? item.modeId}</strong>
        </p>
      );
    case "commands":
      return <Commands item={item} />;
    case "config":
      return (
        <p className="status-row">
          Settings:{" "}
          {item.options.length === 0
            ? "none"
            : item.options.map((o, i) => (
                <span key={o.id}>
                  {i > 0 && " · "}
                  {o.name} <strong>{o.valueName ?? o.value}</strong>
                </span>
              ))}
        </p>
      );
    case "session_info":
      return (
        <p className="status-row">
          {item.title ? (
            <>
              Session title: <strong>{item.title}</strong>
            </>
          ) : (
            "Session details updated"
          )}
        </p>
      );
    case "unknown":
      return <Unknown item={item} />;
    default:
      return null;
  }
});
