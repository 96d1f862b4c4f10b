// Reads the ACP payloads inside session events (docs/sessions.md; ACP's schema) into
// the plain values the transcript keeps. Agents send more fields than these, new ones keep
// arriving, and anything may be missing or of another type: every reader checks what it gets.

import type { TokenUsage } from "../api/types.ts";

export type { TokenUsage };

// ACP shapes carried inside events and permission requests. Agents send more than these fields,
// and anything may be missing, so every field is optional.

export type PermissionOptionKind =
  "allow_once" | "allow_always" | "reject_once" | "reject_always" | (string & {});

export interface PermissionOption {
  optionId: string;
  name?: string;
  kind?: PermissionOptionKind;
}

export interface AcpToolCall {
  toolCallId?: string;
  title?: string | null;
  kind?: string | null;
  status?: string | null;
  content?: AcpToolCallContent[] | null;
  locations?: { path?: string; line?: number | null }[] | null;
  rawInput?: unknown;
  rawOutput?: unknown;
}

export type AcpToolCallContent =
  | { type: "content"; content?: AcpContentBlock }
  | { type: "diff"; path?: string; oldText?: string | null; newText?: string }
  | { type: "terminal"; terminalId?: string }
  | { type: string; [key: string]: unknown };

export interface AcpContentBlock {
  type?: string;
  text?: string;
  name?: string;
  uri?: string;
  [key: string]: unknown;
}

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
  const block = content as AcpContentBlock;
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

export function terminalIds(content: readonly AcpToolCallContent[]): string[] {
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

export function contentOf(raw: unknown): AcpToolCallContent[] | null {
  if (!Array.isArray(raw)) return null;
  return raw.filter(
    (c: unknown): c is AcpToolCallContent => isObject(c) && typeof c.type === "string",
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
