// Folds a session's events (docs/sessions.md) into the items the transcript shows: message
// chunks joined into messages, tool calls updated in place by toolCallId (a tool call first seen
// in a permission request becomes a card too), permission requests joined with their decisions,
// a command's `terminal` event joined to the tool call that shows its terminal, and the
// session's state (context usage and cost, mode, commands, config options) kept beside them.
//
// Incremental: a batch of events costs O(batch) plus a copy of the item list (an array of
// references: a memcpy, per batch, not per event), never a re-fold. Unchanged items keep their
// identity, so memoised rows skip them; a batch that changes none keeps the list itself.
// Events at or below `lastSeq` are ignored: none is shown twice.
//
// The id → index maps in `Transcript.index` are caches shared by every version of a transcript
// (copying them per batch would cost O(items)). They only ever gain entries, every hit is checked
// against the items it indexes and a stale one falls back to a scan, so a discarded version (a
// reducer run twice in React's strict mode, say) can never mislead a later one.

import type { SessionEvent } from "../api/types.ts";
import {
  commandsOf,
  configOptionsOf,
  contentOf,
  contentText,
  isObject,
  locationsOf,
  modesOf,
  num,
  optionsOf,
  shellJoin,
  str,
  terminalIds,
  tokenUsage,
  type AvailableCommand,
  type ConfigOption,
  type PermissionOption,
  type SessionMode,
  type TokenUsage,
  type ToolCallContent,
  type ToolCallUpdateSent,
  type ToolLocation,
} from "./acpPayload.ts";

export { contentText, shellJoin };
export type { AvailableCommand, ConfigOption, SessionMode, TokenUsage, ToolLocation };

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

/** A permission request: the agent's options and, once decided, the decision. */
export interface PermissionAsk {
  requestId: string;
  options: PermissionOption[];
  decision: PermissionDecision | null;
  /** The request was over the event size limit: its options may be missing. */
  truncated: boolean;
}

/** A command the agent ran through Corral: followed while it runs, whole once it ended. */
export interface TerminalRun {
  terminalId: string;
  command: string;
  output: string;
  truncated: boolean;
  exitCode: number | null;
  signal: string | null;
  /** Still running: `output` is what it printed so far. */
  running: boolean;
}

/** How much of a running command's output the transcript keeps (the node's final report
 * carries at most as much). */
export const RUNNING_OUTPUT_CHARS = 64 * 1024;

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
        messageId: string | null;
      }
    | { type: "agent"; text: string; messageId: string | null }
    | { type: "thought"; text: string; messageId: string | null }
    | {
        type: "tool";
        /** null for a card made from a permission request that named no tool call. */
        toolCallId: string | null;
        title: string;
        kind: string;
        status: string;
        content: ToolCallContent[];
        locations: ToolLocation[];
        /** Runs of the terminals `content` refers to, by terminal id, once reported. */
        terminals: Readonly<Record<string, TerminalRun>>;
        /** The permission request about this call, when it came right after it (or made it). */
        permission: PermissionAsk | null;
        /** Bytes of an update too large to record (only a preview was kept), if any. */
        truncatedBytes: number | null;
      }
    | { type: "plan"; entries: PlanEntry[] }
    | {
        type: "turn_end";
        stopReason: string | null;
        error: string | null;
        usage: TokenUsage | null;
      }
    | {
        /** A permission request about a tool call shown further up (or about nothing known). */
        type: "permission";
        title: string;
        toolCallId: string | null;
        kind: string | null;
        locations: ToolLocation[];
        content: ToolCallContent[];
        permission: PermissionAsk;
      }
    | {
        type: "terminal";
        run: TerminalRun;
        /** A tool call card shows this run too (it referred to the terminal afterwards). */
        embedded: boolean;
      }
    | { type: "install"; lines: string[] }
    | { type: "notice"; tone: "info" | "error"; text: string; detail: string[] }
    | { type: "mode"; modeId: string; name: string | null }
    | { type: "commands"; commands: AvailableCommand[] }
    | { type: "config"; options: ConfigOption[] }
    | { type: "session_info"; title: string | null; updatedAt: string | null }
    | {
        /** An update or event kind Corral does not know (or one too large to record). */
        type: "unknown";
        source: "update" | "event";
        kind: string;
        raw: unknown;
      }
  );

export type ItemOf<T extends TranscriptItem["type"]> = Extract<TranscriptItem, { type: T }>;

/** Lookup caches shared by the versions of one transcript (see the top of this file). */
export interface TranscriptIndex {
  /** toolCallId → index of its tool item */
  tools: Map<string, number>;
  /** permission request id → index of the tool or permission item that shows it */
  permissions: Map<string, number>;
  /** terminal id → index of the tool item whose content refers to it */
  terminalOwners: Map<string, number>;
  /** terminal id → index of its standalone terminal item */
  terminalRuns: Map<string, number>;
}

export interface Transcript {
  items: TranscriptItem[];
  lastSeq: number;
  modes: SessionMode[];
  mode: string | null;
  commands: AvailableCommand[];
  configOptions: ConfigOption[];
  /** The agent's own title for the session (`session_info_update`). */
  title: string | null;
  index: TranscriptIndex;
}

export const emptyTranscript = (): Transcript => ({
  items: [],
  lastSeq: 0,
  modes: [],
  mode: null,
  commands: [],
  configOptions: [],
  title: null,
  index: {
    tools: new Map(),
    permissions: new Map(),
    terminalOwners: new Map(),
    terminalRuns: new Map(),
  },
});

/** Notice codes that are bookkeeping rather than news. */
const SILENT_NOTICES = new Set(["agent_ready", "prompt_queued"]);

type NewItem = DistributiveOmit<TranscriptItem, keyof Base>;

class Builder {
  readonly items: TranscriptItem[];
  readonly index: TranscriptIndex;
  readonly state: Transcript;

  constructor(state: Transcript) {
    this.items = state.items.slice();
    this.index = state.index;
    this.state = { ...state, items: this.items };
  }

  private last(): TranscriptItem | undefined {
    return this.items[this.items.length - 1];
  }

  private push(event: SessionEvent, item: NewItem): number {
    const base = { key: `e${event.seq}`, seq: event.seq, at: event.at };
    this.items.push({ ...item, ...base } as TranscriptItem);
    return this.items.length - 1;
  }

  /** `map`'s index for `id` if the item there still matches, else a scan from the end. */
  private find(
    map: Map<string, number>,
    id: string,
    matches: (item: TranscriptItem) => boolean,
  ): number | undefined {
    const cached = map.get(id);
    if (cached === undefined) return undefined; // never indexed: not in any version
    const item = this.items[cached];
    if (item && matches(item)) return cached;
    for (let i = this.items.length - 1; i >= 0; i--) {
      if (matches(this.items[i]!)) return i;
    }
    return undefined;
  }

  private findTool(id: string): number | undefined {
    return this.find(this.index.tools, id, (i) => i.type === "tool" && i.toolCallId === id);
  }

  private findPermission(requestId: string): number | undefined {
    return this.find(
      this.index.permissions,
      requestId,
      (i) =>
        (i.type === "tool" || i.type === "permission") && i.permission?.requestId === requestId,
    );
  }

  /** Join a chunk to the message before it when that is a message of the same kind. */
  private chunk(
    event: SessionEvent,
    type: "agent" | "thought" | "user",
    text: string,
    messageId: string | null,
  ): void {
    const last = this.last();
    if (
      last &&
      last.type === type &&
      (last.type !== "user" || last.chunked) &&
      (messageId === null || last.messageId === null || last.messageId === messageId)
    ) {
      this.items[this.items.length - 1] = {
        ...last,
        text: last.text + text,
        messageId: last.messageId ?? messageId,
      };
    } else if (type === "user") {
      this.push(event, { type, text, resources: [], chunked: true, messageId });
    } else {
      this.push(event, { type, text, messageId });
    }
  }

  apply(event: SessionEvent): void {
    if (event.seq <= this.state.lastSeq) return;
    this.state.lastSeq = event.seq;
    const p: Record<string, unknown> = isObject(event.payload) ? event.payload : {};
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
          messageId: null,
        });
        break;
      case "turn_end": {
        this.push(event, {
          type: "turn_end",
          stopReason: str(p.stop_reason),
          error: p.error == null ? null : String(p.error),
          usage: tokenUsage(p.usage),
        });
        break;
      }
      case "permission_request":
        this.permissionRequest(event, p);
        break;
      case "permission_decision":
        this.permissionDecision(p);
        break;
      case "terminal":
        this.terminal(event, p);
        break;
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
      case "notice":
        this.notice(event, p);
        break;
      case "state": {
        const state = str(p.state);
        const modes = modesOf(p.modes);
        if (modes) this.setModes(modes);
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
        this.push(event, { type: "unknown", source: "event", kind: String(event.kind), raw: p });
    }
  }

  private setModes(modes: { modes: SessionMode[]; current: string | null }): void {
    if (modes.modes.length > 0) this.state.modes = modes.modes;
    if (modes.current) this.state.mode = modes.current;
  }

  private notice(event: SessionEvent, p: Record<string, unknown>): void {
    const code = str(p.code) ?? "";
    if (code === "agent_ready") {
      const modes = modesOf(p.modes);
      if (modes) this.setModes(modes);
      const options = configOptionsOf(p.config_options);
      if (options.length > 0) this.state.configOptions = options;
    }
    if (SILENT_NOTICES.has(code)) return;
    this.push(event, {
      type: "notice",
      tone: "info",
      text: str(p.message) ?? (code || "notice"),
      detail: [],
    });
  }

  private update(event: SessionEvent, update: Record<string, unknown>): void {
    const kind = str(update.sessionUpdate) ?? "";
    if (update.truncated === true) {
      this.truncatedUpdate(event, kind, update);
      return;
    }
    const messageId = str(update.messageId);
    switch (kind) {
      case "agent_message_chunk":
        this.chunk(event, "agent", contentText(update.content), messageId);
        return;
      case "agent_thought_chunk":
        this.chunk(event, "thought", contentText(update.content), messageId);
        return;
      case "user_message_chunk":
        this.chunk(event, "user", contentText(update.content), messageId);
        return;
      case "tool_call":
      case "tool_call_update":
        this.toolCall(event, update as ToolCallUpdateSent);
        return;
      case "plan":
        this.plan(event, update.entries);
        return;
      case "usage_update":
        // Not a row: agents send one after every model call. UsageSummary shows the latest
        // from the session (its `context_usage`).
        return;
      case "current_mode_update": {
        const modeId = str(update.currentModeId) ?? "?";
        this.state.mode = modeId;
        const name = this.state.modes.find((m) => m.id === modeId)?.name ?? null;
        this.replaceOrPush(event, { type: "mode", modeId, name });
        return;
      }
      case "available_commands_update": {
        const commands = commandsOf(update.availableCommands);
        this.state.commands = commands;
        this.replaceOrPush(event, { type: "commands", commands });
        return;
      }
      case "config_option_update": {
        const options = configOptionsOf(update.configOptions);
        this.state.configOptions = options;
        this.replaceOrPush(event, { type: "config", options });
        return;
      }
      case "session_info_update": {
        const title = str(update.title);
        if ("title" in update) this.state.title = title;
        this.replaceOrPush(event, {
          type: "session_info",
          title,
          updatedAt: str(update.updatedAt),
        });
        return;
      }
      default:
        this.push(event, { type: "unknown", source: "update", kind: kind || "?", raw: update });
    }
  }

  /** Status rows replace one of the same type right before them: a burst shows as one row. */
  private replaceOrPush(event: SessionEvent, item: NewItem): void {
    const last = this.last();
    if (last && last.type === item.type) {
      this.items[this.items.length - 1] = { ...last, ...item } as TranscriptItem;
    } else {
      this.push(event, item);
    }
  }

  /** An update over the node's size limit: only its kind, ids and a preview were kept. */
  private truncatedUpdate(event: SessionEvent, kind: string, update: Record<string, unknown>) {
    const bytes = num(update.bytes);
    const id = str(update.toolCallId);
    if ((kind === "tool_call" || kind === "tool_call_update") && id !== null) {
      const index = this.findTool(id);
      if (index !== undefined) {
        const known = this.items[index] as ItemOf<"tool">;
        this.items[index] = { ...known, truncatedBytes: bytes ?? 0 };
        return;
      }
      this.index.tools.set(
        id,
        this.push(event, {
          type: "tool",
          toolCallId: id,
          title: "Tool call",
          kind: "other",
          status: "pending",
          content: [],
          locations: [],
          terminals: {},
          permission: null,
          truncatedBytes: bytes ?? 0,
        }),
      );
      return;
    }
    this.push(event, { type: "unknown", source: "update", kind: kind || "?", raw: update });
  }

  private toolCall(event: SessionEvent, update: ToolCallUpdateSent): void {
    const id = update.toolCallId == null ? `seq-${event.seq}` : String(update.toolCallId);
    const index = this.findTool(id);
    const locations = locationsOf(update.locations);
    const content = contentOf(update.content);
    if (index === undefined) {
      const tool = this.push(event, {
        type: "tool",
        toolCallId: id,
        title: str(update.title) ?? "Tool call",
        kind: str(update.kind) ?? "other",
        status: str(update.status) ?? "pending",
        content: content ?? [],
        locations: locations ?? [],
        terminals: {},
        permission: null,
        truncatedBytes: null,
      });
      this.index.tools.set(id, tool);
      if (content) this.claimTerminals(tool);
      return;
    }
    this.updateTool(index, update, content, locations);
  }

  /** An update carries only the fields that changed; the ones it carries replace the old. */
  private updateTool(
    index: number,
    update: ToolCallUpdateSent,
    content: ToolCallContent[] | null,
    locations: ToolLocation[] | null,
  ): void {
    const known = this.items[index] as ItemOf<"tool">;
    this.items[index] = {
      ...known,
      title: str(update.title) ?? known.title,
      kind: str(update.kind) ?? known.kind,
      status: str(update.status) ?? known.status,
      content: content ?? known.content,
      locations: locations ?? known.locations,
    };
    if (content) this.claimTerminals(index);
  }

  /** The tool item at `index` refers to terminals: note it, and take runs already reported. */
  private claimTerminals(index: number): void {
    const tool = this.items[index] as ItemOf<"tool">;
    let terminals: Record<string, TerminalRun> | null = null;
    for (const terminalId of terminalIds(tool.content)) {
      this.index.terminalOwners.set(terminalId, index);
      if (tool.terminals[terminalId]) continue;
      const runIndex = this.find(
        this.index.terminalRuns,
        terminalId,
        (i) => i.type === "terminal" && i.run.terminalId === terminalId,
      );
      if (runIndex === undefined) continue;
      const standalone = this.items[runIndex] as ItemOf<"terminal">;
      terminals ??= { ...tool.terminals };
      terminals[terminalId] = standalone.run;
      this.items[runIndex] = { ...standalone, embedded: true };
    }
    if (terminals) this.items[index] = { ...tool, terminals };
  }

  private terminal(event: SessionEvent, p: Record<string, unknown>): void {
    const status = isObject(p.exit_status) ? p.exit_status : null;
    const terminalId = str(p.terminal_id) ?? `seq-${event.seq}`;
    const command = Array.isArray(p.command)
      ? shellJoin(p.command.map(String))
      : (str(p.command) ?? "");
    let run: TerminalRun;
    if (p.running === true) {
      // Progress: what it printed since the last event, added to what is shown.
      const before = this.terminalRun(terminalId);
      const output = (before?.output ?? "") + (str(p.append) ?? "");
      run = {
        terminalId,
        command: command || before?.command || "",
        output: output.slice(-RUNNING_OUTPUT_CHARS),
        truncated:
          (before?.truncated ?? false) ||
          p.skipped === true ||
          output.length > RUNNING_OUTPUT_CHARS,
        exitCode: null,
        signal: null,
        running: true,
      };
    } else {
      run = {
        terminalId,
        command,
        output: str(p.output) ?? "",
        truncated: p.truncated === true,
        exitCode: num(status?.exitCode),
        signal: str(status?.signal),
        running: false,
      };
    }
    const owner = this.find(
      this.index.terminalOwners,
      terminalId,
      (i) => i.type === "tool" && terminalIds(i.content).includes(terminalId),
    );
    if (owner !== undefined) {
      const tool = this.items[owner] as ItemOf<"tool">;
      this.items[owner] = { ...tool, terminals: { ...tool.terminals, [terminalId]: run } };
    }
    const standalone = this.find(
      this.index.terminalRuns,
      terminalId,
      (i) => i.type === "terminal" && i.run.terminalId === terminalId,
    );
    if (standalone !== undefined) {
      // Progress, or the end, of a run already shown: updated in place.
      const item = this.items[standalone] as ItemOf<"terminal">;
      this.items[standalone] = { ...item, run };
    } else if (owner === undefined) {
      this.index.terminalRuns.set(
        terminalId,
        this.push(event, { type: "terminal", run, embedded: false }),
      );
    }
  }

  /** The run shown so far for a terminal: in the tool card that refers to it, or on its own. */
  private terminalRun(terminalId: string): TerminalRun | undefined {
    const owner = this.find(
      this.index.terminalOwners,
      terminalId,
      (i) => i.type === "tool" && terminalIds(i.content).includes(terminalId),
    );
    if (owner !== undefined) return (this.items[owner] as ItemOf<"tool">).terminals[terminalId];
    const standalone = this.find(
      this.index.terminalRuns,
      terminalId,
      (i) => i.type === "terminal" && i.run.terminalId === terminalId,
    );
    return standalone === undefined
      ? undefined
      : (this.items[standalone] as ItemOf<"terminal">).run;
  }

  private plan(event: SessionEvent, raw: unknown): void {
    const entries: PlanEntry[] = Array.isArray(raw)
      ? raw.flatMap((e: unknown) =>
          isObject(e)
            ? [
                {
                  content: String(e.content ?? ""),
                  status: str(e.status) ?? "pending",
                  priority: str(e.priority) ?? undefined,
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
    const toolCall = (isObject(p.tool_call) ? p.tool_call : {}) as ToolCallUpdateSent;
    const toolCallId = toolCall.toolCallId == null ? null : String(toolCall.toolCallId);
    const permission: PermissionAsk = {
      requestId,
      options: optionsOf(p.options),
      decision: null,
      truncated: p.truncated === true,
    };
    const content = contentOf(toolCall.content);
    const locations = locationsOf(toolCall.locations);
    const toolIndex = toolCallId === null ? undefined : this.findTool(toolCallId);
    let index: number;
    if (toolIndex === undefined) {
      // No tool_call came first (Gemini asks before any): the request makes the card.
      index = this.push(event, {
        type: "tool",
        toolCallId,
        title: str(toolCall.title) ?? "The agent asks for permission",
        kind: str(toolCall.kind) ?? "other",
        status: str(toolCall.status) ?? "pending",
        content: content ?? [],
        locations: locations ?? [],
        terminals: {},
        permission,
        truncatedBytes: null,
      });
      if (toolCallId !== null) this.index.tools.set(toolCallId, index);
      if (content) this.claimTerminals(index);
    } else {
      const tool = this.items[toolIndex] as ItemOf<"tool">;
      const adjacent = toolIndex === this.items.length - 1;
      if (adjacent && (tool.permission === null || tool.permission.decision !== null)) {
        // Right after its card: ask there. The request's tool call is an update of it.
        this.updateTool(toolIndex, toolCall, content, locations);
        this.items[toolIndex] = { ...(this.items[toolIndex] as ItemOf<"tool">), permission };
        index = toolIndex;
      } else {
        // The card is further up: ask at the end, where the user is looking.
        index = this.push(event, {
          type: "permission",
          title: str(toolCall.title) ?? tool.title,
          toolCallId,
          kind: str(toolCall.kind) ?? tool.kind,
          locations: locations ?? tool.locations,
          content: content ?? [],
          permission,
        });
      }
    }
    this.index.permissions.set(requestId, index);
  }

  private permissionDecision(p: Record<string, unknown>): void {
    const index = this.findPermission(String(p.request_id));
    if (index === undefined) return;
    const item = this.items[index] as ItemOf<"tool"> | ItemOf<"permission">;
    const decision: PermissionDecision = {
      outcome: str(p.outcome),
      optionId: str(p.option_id),
      by: str(p.by),
      policy: str(p.policy),
    };
    this.items[index] = { ...item, permission: { ...item.permission!, decision } };
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
  // Events that changed no item (usage updates, say) leave the list as it was: nothing re-renders.
  const { items } = builder.state;
  if (items.length === state.items.length && items.every((item, i) => item === state.items[i])) {
    builder.state.items = state.items;
  }
  return builder.state;
}
