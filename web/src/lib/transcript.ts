// Folds a session's events (docs/sessions.md) into the items the transcript shows: message
// chunks joined into messages, tool calls updated in place by toolCallId, permission requests
// joined with their decisions. Incremental: a batch of events copies the item list once and
// replaces only the items it changes, so unchanged items keep their identity (and memoised
// components skip them). Events at or below `lastSeq` are ignored: none is shown twice.

import type {
  AcpContentBlock,
  AcpToolCall,
  AcpToolCallContent,
  PermissionOption,
  SessionEvent,
} from "../api/types.ts";

export interface PlanEntry {
  content: string;
  status: string;
  priority?: string;
}

export interface PermissionDecision {
  outcome: string | null;
  optionId: string | null;
  by: string | null;
  policy: string | null;
}

interface Base {
  /** Stable React key: the seq of the event that made the item. */
  key: string;
  seq: number;
  at: string;
}

export type TranscriptItem = Base &
  (
    | {
        type: "user";
        text: string;
        resources: string[];
        /** Made of user_message_chunk updates (a replay), so later chunks join it. */
        chunked: boolean;
      }
    | { type: "agent"; text: string }
    | { type: "thought"; text: string }
    | {
        type: "tool";
        toolCallId: string;
        title: string;
        kind: string;
        status: string;
        content: AcpToolCallContent[];
        locations: string[];
      }
    | { type: "plan"; entries: PlanEntry[] }
    | { type: "turn_end"; stopReason: string | null; error: string | null }
    | {
        type: "permission";
        requestId: string;
        title: string;
        toolCallId: string | null;
        content: AcpToolCallContent[];
        options: PermissionOption[];
        decision: PermissionDecision | null;
      }
    | {
        type: "terminal";
        command: string;
        output: string;
        truncated: boolean;
        exitCode: number | null;
      }
    | { type: "install"; lines: string[] }
    | { type: "notice"; tone: "info" | "error"; text: string; detail: string[] }
  );

export type ItemOf<T extends TranscriptItem["type"]> = Extract<TranscriptItem, { type: T }>;

export interface Transcript {
  items: TranscriptItem[];
  lastSeq: number;
  /** toolCallId → index in items */
  tools: Map<string, number>;
  /** permission request id → index in items */
  permissions: Map<string, number>;
}

export const emptyTranscript = (): Transcript => ({
  items: [],
  lastSeq: 0,
  tools: new Map(),
  permissions: new Map(),
});

/** Update kinds that feed pickers or counters rather than the transcript. */
const SILENT_UPDATES = new Set([
  "available_commands_update",
  "config_option_update",
  "session_info_update",
  "usage_update",
]);

/** Notice codes that are bookkeeping rather than news. */
const SILENT_NOTICES = new Set(["agent_ready", "prompt_queued"]);

const str = (value: unknown): string | null => (typeof value === "string" ? value : null);

export function contentText(content: unknown): string {
  if (!content || typeof content !== "object") return "";
  const block = content as AcpContentBlock;
  if (block.type === "text") return block.text ?? "";
  if (block.type === "resource_link") return `[${block.name ?? block.uri ?? "resource"}]`;
  return `[${block.type ?? "content"}]`;
}

class Builder {
  readonly items: TranscriptItem[];
  readonly tools: Map<string, number>;
  readonly permissions: Map<string, number>;
  lastSeq: number;

  constructor(state: Transcript) {
    this.items = state.items.slice();
    this.tools = new Map(state.tools);
    this.permissions = new Map(state.permissions);
    this.lastSeq = state.lastSeq;
  }

  private last(): TranscriptItem | undefined {
    return this.items[this.items.length - 1];
  }

  private push(event: SessionEvent, item: DistributiveOmit<TranscriptItem, keyof Base>): number {
    const base = { key: `e${event.seq}`, seq: event.seq, at: event.at };
    this.items.push({ ...item, ...base } as TranscriptItem);
    return this.items.length - 1;
  }

  /** Join a chunk to the message before it when that is a message of the same kind. */
  private chunk(event: SessionEvent, type: "agent" | "thought" | "user", text: string): void {
    const last = this.last();
    if (last && last.type === type && (last.type !== "user" || last.chunked)) {
      this.items[this.items.length - 1] = { ...last, text: last.text + text };
    } else if (type === "user") {
      this.push(event, { type, text, resources: [], chunked: true });
    } else {
      this.push(event, { type, text });
    }
  }

  apply(event: SessionEvent): void {
    if (event.seq <= this.lastSeq) return;
    this.lastSeq = event.seq;
    const p = event.payload;
    switch (event.kind) {
      case "update":
        this.update(event, p);
        break;
      case "prompt":
        this.push(event, {
          type: "user",
          text: str(p.text) ?? "",
          resources: Array.isArray(p.resources) ? p.resources.map(String) : [],
          chunked: false,
        });
        break;
      case "turn_end":
        this.push(event, {
          type: "turn_end",
          stopReason: str(p.stop_reason),
          error: p.error == null ? null : String(p.error),
        });
        break;
      case "permission_request":
        this.permissionRequest(event, p);
        break;
      case "permission_decision":
        this.permissionDecision(p);
        break;
      case "terminal": {
        const command = Array.isArray(p.command) ? p.command.map(String).join(" ") : "";
        const status = p.exit_status as { exitCode?: number | null } | null | undefined;
        this.push(event, {
          type: "terminal",
          command,
          output: str(p.output) ?? "",
          truncated: p.truncated === true,
          exitCode: typeof status?.exitCode === "number" ? status.exitCode : null,
        });
        break;
      }
      case "install": {
        const line = str(p.line) ?? "";
        const last = this.last();
        if (last && last.type === "install") {
          this.items[this.items.length - 1] = { ...last, lines: [...last.lines, line] };
        } else {
          this.push(event, { type: "install", lines: [line] });
        }
        break;
      }
      case "notice": {
        if (SILENT_NOTICES.has(str(p.code) ?? "")) break;
        this.push(event, {
          type: "notice",
          tone: "info",
          text: str(p.message) ?? str(p.code) ?? "notice",
          detail: [],
        });
        break;
      }
      case "state": {
        const state = str(p.state);
        if (state !== "error" && state !== "stopped") break;
        const reason = str(p.reason);
        this.push(event, {
          type: "notice",
          tone: state === "error" ? "error" : "info",
          text: `Session ${state}${reason && reason !== state ? `: ${reason}` : ""}`,
          detail: Array.isArray(p.stderr) ? p.stderr.map(String) : [],
        });
        break;
      }
      default:
        break;
    }
  }

  private update(event: SessionEvent, update: Record<string, unknown>): void {
    const kind = str(update.sessionUpdate) ?? "";
    switch (kind) {
      case "agent_message_chunk":
        this.chunk(event, "agent", contentText(update.content));
        return;
      case "agent_thought_chunk":
        this.chunk(event, "thought", contentText(update.content));
        return;
      case "user_message_chunk":
        this.chunk(event, "user", contentText(update.content));
        return;
      case "tool_call":
      case "tool_call_update":
        this.toolCall(event, update as AcpToolCall);
        return;
      case "plan":
        this.plan(event, update.entries);
        return;
      case "current_mode_update":
        this.push(event, {
          type: "notice",
          tone: "info",
          text: `Mode: ${str(update.currentModeId) ?? "?"}`,
          detail: [],
        });
        return;
      default:
        if (!SILENT_UPDATES.has(kind)) {
          this.push(event, { type: "notice", tone: "info", text: `(${kind} update)`, detail: [] });
        }
    }
  }

  private toolCall(event: SessionEvent, update: AcpToolCall): void {
    const id = String(update.toolCallId ?? `seq-${event.seq}`);
    const index = this.tools.get(id);
    const locations = Array.isArray(update.locations)
      ? update.locations.flatMap((l) => (l && typeof l.path === "string" ? [l.path] : []))
      : null;
    const content = Array.isArray(update.content) ? update.content : null;
    if (index === undefined) {
      this.tools.set(
        id,
        this.push(event, {
          type: "tool",
          toolCallId: id,
          title: update.title ?? "Tool call",
          kind: update.kind ?? "other",
          status: update.status ?? "pending",
          content: content ?? [],
          locations: locations ?? [],
        }),
      );
      return;
    }
    const known = this.items[index] as ItemOf<"tool">;
    // An update carries only the fields that changed; the ones it carries replace the old.
    this.items[index] = {
      ...known,
      title: update.title ?? known.title,
      kind: update.kind ?? known.kind,
      status: update.status ?? known.status,
      content: content ?? known.content,
      locations: locations ?? known.locations,
    };
  }

  private plan(event: SessionEvent, raw: unknown): void {
    const entries: PlanEntry[] = Array.isArray(raw)
      ? raw.flatMap((e) =>
          e && typeof e === "object"
            ? [
                {
                  content: String((e as PlanEntry).content ?? ""),
                  status: String((e as PlanEntry).status ?? "pending"),
                  priority: str((e as PlanEntry).priority) ?? undefined,
                },
              ]
            : [],
        )
      : [];
    // Each plan update is the whole plan: replace the turn's plan in place.
    for (let i = this.items.length - 1; i >= 0; i--) {
      const item = this.items[i]!;
      if (item.type === "user" || item.type === "turn_end") break;
      if (item.type === "plan") {
        this.items[i] = { ...item, entries };
        return;
      }
    }
    this.push(event, { type: "plan", entries });
  }

  private permissionRequest(event: SessionEvent, p: Record<string, unknown>): void {
    const requestId = String(p.request_id ?? `seq-${event.seq}`);
    const toolCall = (p.tool_call ?? {}) as AcpToolCall;
    const toolCallId = toolCall.toolCallId ? String(toolCall.toolCallId) : null;
    const toolIndex = toolCallId === null ? undefined : this.tools.get(toolCallId);
    const tool = toolIndex === undefined ? null : (this.items[toolIndex] as ItemOf<"tool">);
    const options = Array.isArray(p.options)
      ? (p.options as PermissionOption[]).filter((o) => o && typeof o.optionId === "string")
      : [];
    this.permissions.set(
      requestId,
      this.push(event, {
        type: "permission",
        requestId,
        title: toolCall.title ?? tool?.title ?? "The agent asks for permission",
        toolCallId,
        // Shown here only when no tool call card shows it already (Gemini asks before any).
        content: tool === null && Array.isArray(toolCall.content) ? toolCall.content : [],
        options,
        decision: null,
      }),
    );
  }

  private permissionDecision(p: Record<string, unknown>): void {
    const index = this.permissions.get(String(p.request_id));
    if (index === undefined) return;
    const item = this.items[index] as ItemOf<"permission">;
    this.items[index] = {
      ...item,
      decision: {
        outcome: str(p.outcome),
        optionId: str(p.option_id),
        by: str(p.by),
        policy: str(p.policy),
      },
    };
  }
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

/** The transcript with `events` (in seq order) applied; `state` itself is left as it was. */
export function applyEvents(state: Transcript, events: readonly SessionEvent[]): Transcript {
  if (!events.some((e) => e.seq > state.lastSeq)) return state;
  const builder = new Builder(state);
  const ordered = events.every((e, i) => i === 0 || events[i - 1]!.seq < e.seq)
    ? events
    : [...events].sort((a, b) => a.seq - b.seq);
  for (const event of ordered) builder.apply(event);
  return {
    items: builder.items,
    lastSeq: builder.lastSeq,
    tools: builder.tools,
    permissions: builder.permissions,
  };
}
