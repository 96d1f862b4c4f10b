// Reads the ACP payloads inside session events (docs/sessions.md; ACP's schema) into
// the plain values the transcript keeps. Agents send more fields than these, new ones keep
// arriving, and anything may be missing or of another type: every reader checks what it gets.
// The shapes are ACP's own, from @agentclientprotocol/sdk (types only: none of its code is
// bundled), loosened to what an agent may really send.

import type * as acp from "@agentclientprotocol/sdk";

import type { TokenUsage } from "../api/types.ts";

export type { TokenUsage };

/** A tool call, or an update of one, as an agent sent it (`tool_call`, `tool_call_update`, and
 * a permission request's `toolCall`): any field may be missing. */
export type ToolCallUpdateSent = Partial<acp.ToolCallUpdate>;

/** `T`, one of ACP's kinds of a union tagged by `type`, with any field but `type` missing. */
type SentKind<T> = T extends { type: infer K } ? { type: K } & Partial<Omit<T, "type">> : never;

/** An item of a tool call's `content`, as `contentOf` keeps it: one of ACP's kinds (content,
 * diff, terminal) with any field but `type` missing, or a kind ACP added since. */
export type ToolCallContent =
  SentKind<acp.ToolCallContent> | { type: string; [key: string]: unknown };

/** The item of a tool call's `content` of ACP's kind `K`, as sent. */
export type ToolCallContentOf<K extends acp.ToolCallContent["type"]> = Extract<
  ToolCallContent,
  { type: K }
>;

/** A content block (text, a resource link, ...) as an agent sent it: any field may be missing. */
export type ContentBlockSent = Partial<acp.ContentBlock>;

/** One of a permission request's options, as `optionsOf` keeps it: ACP's, with an `optionId`
 * and anything else possibly missing. */
export type PermissionOption = Pick<acp.PermissionOption, "optionId"> &
  Partial<acp.PermissionOption>;

export interface ToolLocation {
  path: string;
  line: number | null;
}

export interface AvailableCommand {
  name: string;
  description: string;
  hint: string | null;
}

export interface ConfigOption {
  id: string;
  name: string;
  category: string | null;
  /** The current value's id (or "on"/"off" for a boolean option). */
  value: string;
  /** The current value's display name, when the agent gives one. */
  valueName: string | null;
}

export interface SessionMode {
  id: string;
  name: string;
}

export const str = (value: unknown): string | null => (typeof value === "string" ? value : null);
export const num = (value: unknown): number | null =>
  typeof value === "number" && Number.isFinite(value) ? value : null;
export const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

export function contentText(content: unknown): string {
  if (!content || typeof content !== "object") return "";
  const block = content as ContentBlockSent;
  if (block.type === "text") return block.text ?? "";
  if (block.type === "resource_link") return `[${block.name ?? block.uri ?? "resource"}]`;
  if (block.type === "resource" && isObject(block.resource)) {
    const uri = str(block.resource.uri);
    return `[${uri ?? "resource"}]`;
  }
  return `[${block.type ?? "content"}]`;
}

/** An argv as a shell would take it back: words with anything special single-quoted. */
export function shellJoin(argv: readonly string[]): string {
  return argv
    .map((word) =>
      word !== "" && /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`,
    )
    .join(" ");
}

export function terminalIds(content: readonly ToolCallContent[]): string[] {
  return content.flatMap((c) =>
    c.type === "terminal" && typeof c.terminalId === "string" ? [c.terminalId] : [],
  );
}

export function locationsOf(raw: unknown): ToolLocation[] | null {
  if (!Array.isArray(raw)) return null;
  return raw.flatMap((l: unknown) =>
    isObject(l) && typeof l.path === "string" ? [{ path: l.path, line: num(l.line) }] : [],
  );
}

export function contentOf(raw: unknown): ToolCallContent[] | null {
  if (!Array.isArray(raw)) return null;
  return raw.filter(
    (c: unknown): c is ToolCallContent => isObject(c) && typeof c.type === "string",
  );
}

export function optionsOf(raw: unknown): PermissionOption[] {
  return Array.isArray(raw)
    ? raw.filter(
        (o: unknown): o is PermissionOption => isObject(o) && typeof o.optionId === "string",
      )
    : [];
}

/** A `turn_end` event's `usage`, in ACP's names, as a session's `turn_usage` has it. */
export function tokenUsage(raw: unknown): TokenUsage | null {
  if (!isObject(raw)) return null;
  const usage: TokenUsage = {
    total_tokens: num(raw.totalTokens),
    input_tokens: num(raw.inputTokens),
    output_tokens: num(raw.outputTokens),
    thought_tokens: num(raw.thoughtTokens),
    cached_read_tokens: num(raw.cachedReadTokens),
    cached_write_tokens: num(raw.cachedWriteTokens),
  };
  return Object.values(usage).some((v) => v !== null) ? usage : null;
}

export function commandsOf(raw: unknown): AvailableCommand[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((c: unknown) =>
    isObject(c) && typeof c.name === "string"
      ? [
          {
            name: c.name,
            description: str(c.description) ?? "",
            hint: isObject(c.input) ? str(c.input.hint) : null,
          },
        ]
      : [],
  );
}

export function configOptionsOf(raw: unknown): ConfigOption[] {
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((o: unknown): ConfigOption[] => {
    if (!isObject(o) || typeof o.id !== "string") return [];
    const current = o.currentValue;
    let value: string;
    let valueName: string | null = null;
    if (typeof current === "boolean") {
      value = current ? "on" : "off";
    } else {
      value = str(current) ?? String(current ?? "");
      // Options are values, or groups of values.
      const choices = Array.isArray(o.options)
        ? o.options.flatMap((c: unknown) =>
            isObject(c) && Array.isArray(c.options) ? (c.options as unknown[]) : [c],
          )
        : [];
      const chosen = choices.find((c) => isObject(c) && c.value === current);
      valueName = isObject(chosen) ? str(chosen.name) : null;
    }
    return [
      {
        id: o.id,
        name: str(o.name) ?? o.id,
        category: str(o.category),
        value,
        valueName,
      },
    ];
  });
}

export function modesOf(raw: unknown): { modes: SessionMode[]; current: string | null } | null {
  if (!isObject(raw)) return null;
  const modes = Array.isArray(raw.availableModes)
    ? raw.availableModes.flatMap((m: unknown) =>
        isObject(m) && typeof m.id === "string" ? [{ id: m.id, name: str(m.name) ?? m.id }] : [],
      )
    : [];
  return { modes, current: str(raw.currentModeId) };
}
