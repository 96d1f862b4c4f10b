// The line diff of the `{"type": "diff", path, oldText, newText}` content of ACP tool calls as
// unified-diff hunks (the `diff` package's), and the same hunks paired side by side for a split
// view. Lines carry their numbers in the old and the new text.

import { structuredPatch } from "diff";

export type DiffLineKind = "context" | "add" | "del";

export type DiffLine =
  | { kind: "hunk"; text: string }
  | {
      kind: DiffLineKind;
      text: string;
      /** 1-based number in the old text; null for an added line. */
      oldLine: number | null;
      /** 1-based number in the new text; null for a removed line. */
      newLine: number | null;
    };

export type ChangeLine = Extract<DiffLine, { kind: DiffLineKind }>;

/** One side of a split row: a line of the old (left) or the new (right) text. */
export interface DiffCell {
  kind: DiffLineKind;
  text: string;
  line: number;
}

export type SplitRow =
  { kind: "hunk"; text: string } | { kind: "pair"; left: DiffCell | null; right: DiffCell | null };

/**
 * Past this many lines removed and added, a diff is not looked for (its cost grows with their
 * square): the changed middle shows as removed, then added.
 */
const MAX_EDIT_LENGTH = 2000;

export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/** The lines, each ended by "\n": a line is the same whatever ends it, and a last line with no
 * newline is the same as one with. */
function normalized(lines: readonly string[]): string {
  return lines.map((line) => `${line}\n`).join("");
}

function range(start: number, count: number): string {
  // As diff(1) writes it: an empty range names the line before it.
  if (count === 0) return `${start},0`;
  return count === 1 ? `${start + 1}` : `${start + 1},${count}`;
}

/** Hunks with `context` unchanged lines around each change; empty when the texts are equal. */
export function unifiedDiff(oldText: string, newText: string, context = 3): DiffLine[] {
  const a = splitLines(oldText);
  const b = splitLines(newText);
  const patch = structuredPatch("", "", normalized(a), normalized(b), undefined, undefined, {
    context,
    maxEditLength: MAX_EDIT_LENGTH,
  });
  if (patch === undefined) return replacement(a, b, context);
  const lines: DiffLine[] = [];
  for (const hunk of patch.hunks) {
    // `oldStart` and `newStart` are 1-based: the line before an empty range.
    lines.push({
      kind: "hunk",
      text: `@@ -${range(hunk.oldStart - 1, hunk.oldLines)} +${range(hunk.newStart - 1, hunk.newLines)} @@`,
    });
    let oldLine = hunk.oldStart;
    let newLine = hunk.newStart;
    for (const line of hunk.lines) {
      const text = line.slice(1);
      if (line.startsWith("+")) {
        lines.push({ kind: "add", text, oldLine: null, newLine: newLine++ });
      } else if (line.startsWith("-")) {
        lines.push({ kind: "del", text, oldLine: oldLine++, newLine: null });
      } else if (line.startsWith(" ")) {
        lines.push({ kind: "context", text, oldLine: oldLine++, newLine: newLine++ });
      }
      // "\ No newline at end of file" cannot come: every line ends with one.
    }
  }
  return lines;
}

/** A diff too large to look for: one hunk, every line between the common start and end
 * removed and then added, with `context` lines around. */
function replacement(a: readonly string[], b: readonly string[], context: number): DiffLine[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const from = Math.max(0, start - context);
  const after = Math.min(context, a.length - endA);
  const lines: DiffLine[] = [
    {
      kind: "hunk",
      text: `@@ -${range(from, endA + after - from)} +${range(from, endB + after - from)} @@`,
    },
  ];
  for (let i = from; i < start; i++) {
    lines.push({ kind: "context", text: a[i]!, oldLine: i + 1, newLine: i + 1 });
  }
  for (let i = start; i < endA; i++) {
    lines.push({ kind: "del", text: a[i]!, oldLine: i + 1, newLine: null });
  }
  for (let j = start; j < endB; j++) {
    lines.push({ kind: "add", text: b[j]!, oldLine: null, newLine: j + 1 });
  }
  for (let k = 0; k < after; k++) {
    lines.push({
      kind: "context",
      text: a[endA + k]!,
      oldLine: endA + k + 1,
      newLine: endB + k + 1,
    });
  }
  return lines;
}

/** Lines added and removed. */
export function diffStats(lines: readonly DiffLine[]): { added: number; removed: number } {
  let added = 0;
  let removed = 0;
  for (const line of lines) {
    if (line.kind === "add") added++;
    else if (line.kind === "del") removed++;
  }
  return { added, removed };
}

/**
 * The unified lines side by side: context on both sides, and each run of removed lines paired
 * row by row with the added lines that follow it (the longer run leaves the other side empty).
 */
export function splitRows(lines: readonly DiffLine[]): SplitRow[] {
  const rows: SplitRow[] = [];
  let dels: DiffCell[] = [];
  let adds: DiffCell[] = [];
  const flush = () => {
    for (let i = 0; i < Math.max(dels.length, adds.length); i++) {
      rows.push({ kind: "pair", left: dels[i] ?? null, right: adds[i] ?? null });
    }
    dels = [];
    adds = [];
  };
  for (const line of lines) {
    if (line.kind === "hunk") {
      flush();
      rows.push(line);
    } else if (line.kind === "del") {
      if (adds.length > 0) flush();
      dels.push({ kind: "del", text: line.text, line: line.oldLine ?? 0 });
    } else if (line.kind === "add") {
      adds.push({ kind: "add", text: line.text, line: line.newLine ?? 0 });
    } else {
      flush();
      rows.push({
        kind: "pair",
        left: { kind: "context", text: line.text, line: line.oldLine ?? 0 },
        right: { kind: "context", text: line.text, line: line.newLine ?? 0 },
      });
    }
  }
  flush();
  return rows;
}
