import { memo } from "react";

import type { ItemOf, ToolLocation } from "../../lib/transcript.ts";
import { ToolContent } from "../ToolContent.tsx";
import { PermissionPanel } from "./PermissionPanel.tsx";
import { useDisplayPath } from "./paths.ts";

/** ACP's tool kinds, each with an icon; anything else is `other`. */
export const KIND_ICONS: Record<string, string> = {
  read: "📖",
  edit: "✏️",
  delete: "🗑️",
  move: "📦",
  search: "🔍",
  execute: "▶️",
  think: "💭",
  fetch: "🌐",
  switch_mode: "🔀",
  other: "🔧",
};

const STATUS_MARKS: Record<string, string> = {
  pending: "…",
  in_progress: "▸",
  completed: "✓",
  failed: "✗",
};

const words = (value: string) => value.replaceAll("_", " ");

export function KindIcon({ kind }: { kind: string }) {
  return (
    <span className="tool-icon" aria-hidden="true" title={words(kind)}>
      {KIND_ICONS[kind] ?? KIND_ICONS.other}
    </span>
  );
}

export function Locations({ locations }: { locations: readonly ToolLocation[] }) {
  const display = useDisplayPath();
  if (locations.length === 0) return null;
  return (
    <ul className="tool-locations" aria-label="Locations">
      {locations.map((l, i) => {
        const line = l.line === null ? "" : `:${l.line}`;
        return (
          <li key={i}>
            <code title={`${l.path}${line}`}>{`${display(l.path)}${line}`}</code>
          </li>
        );
      })}
    </ul>
  );
}

/** A tool call, updated in place as its updates come; with its permission request, if any. */
export const ToolCallCard = memo(function ToolCallCard({
  item,
  canAnswer,
}: {
  item: ItemOf<"tool">;
  canAnswer: boolean;
}) {
  const waiting = item.permission !== null && item.permission.decision === null;
  return (
    <article
      className={`tool tool-${item.status}${waiting ? " tool-asking" : ""}`}
      aria-label={`Tool call: ${item.title}`}
      data-tool-call-id={item.toolCallId ?? undefined}
    >
      <header className="tool-header">
        <KindIcon kind={item.kind} />
        <strong className="tool-title">{item.title}</strong>
        <span className="tag">{words(item.kind)}</span>
        <span className={`tool-status tool-status-${item.status}`}>
          <span aria-hidden="true">{STATUS_MARKS[item.status] ?? "?"} </span>
          {words(item.status)}
        </span>
      </header>
      <Locations locations={item.locations} />
      <ToolContent content={item.content} terminals={item.terminals} stateKey={item.key} />
      {item.truncatedBytes !== null && (
        <p className="muted">
          An update of this tool call was too large to record
          {item.truncatedBytes > 0 ? ` (${Math.round(item.truncatedBytes / 1024)} KiB)` : ""}.
        </p>
      )}
      {item.permission && (
        <PermissionPanel ask={item.permission} label={item.title} canAnswer={canAnswer} />
      )}
    </article>
  );
});

/** A permission request about a tool call whose card is further up (or about nothing known). */
export const PermissionCard = memo(function PermissionCard({
  item,
  canAnswer,
}: {
  item: ItemOf<"permission">;
  canAnswer: boolean;
}) {
  const pending = item.permission.decision === null;
  return (
    <article
      className={`permission${pending ? " permission-pending" : ""}`}
      aria-label={`Permission request: ${item.title}`}
    >
      <header className="tool-header">
        {item.kind && <KindIcon kind={item.kind} />}
        <strong className="tool-title">{item.title}</strong>
        {item.kind && <span className="tag">{words(item.kind)}</span>}
      </header>
      <Locations locations={item.locations} />
      <ToolContent content={item.content} stateKey={item.key} />
      <PermissionPanel ask={item.permission} label={item.title} canAnswer={canAnswer} />
    </article>
  );
});
