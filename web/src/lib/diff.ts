// A small line diff (longest common subsequence) rendered as unified-diff hunks, for the
// `{"type": "diff", path, oldText, newText}` content of ACP tool calls, and the same hunks paired
// side by side for a split view. Lines carry their numbers in the old and the new text.

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

type Op = { kind: DiffLineKind; text: string };

/** Past this many cells the LCS table is skipped: the changed middle shows as removed + added. */
const MAX_TABLE_CELLS = 2_000_000;

export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split(/\r?\n/);
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

function diffOps(a: string[], b: string[]): Op[] {
  let start = 0;
  while (start < a.length && start < b.length && a[start] === b[start]) start++;
  let endA = a.length;
  let endB = b.length;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  const ops: Op[] = [];
  for (let i = 0; i < start; i++) ops.push({ kind: "context", text: a[i]! });
  ops.push(...middleOps(a.slice(start, endA), b.slice(start, endB)));
  for (let i = endA; i < a.length; i++) ops.push({ kind: "context", text: a[i]! });
  return ops;
}

function middleOps(a: string[], b: string[]): Op[] {
  const n = a.length;
  const m = b.length;
  if (n === 0 || m === 0 || n * m > MAX_TABLE_CELLS) {
    return [
      ...a.map((text): Op => ({ kind: "del", text })),
      ...b.map((text): Op => ({ kind: "add", text })),
    ];
  }
  // lcs[i * (m + 1) + j] = LCS length of a[i..] and b[j..]; min(n, m) <= 1414 fits 16 bits.
  const width = m + 1;
  const lcs = new Uint16Array((n + 1) * width);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * width + j] =
        a[i] === b[j]
          ? lcs[(i + 1) * width + j + 1]! + 1
          : Math.max(lcs[(i + 1) * width + j]!, lcs[i * width + j + 1]!);
    }
  }
  const ops: Op[] = [];
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (a[i] === b[j]) {
      ops.push({ kind: "context", text: a[i]! });
      i++;
      j++;
    } else if (lcs[(i + 1) * width + j]! >= lcs[i * width + j + 1]!) {
      ops.push({ kind: "del", text: a[i]! });
      i++;
    } else {
      ops.push({ kind: "add", text: b[j]! });
      j++;
    }
  }
  while (i < n) ops.push({ kind: "del", text: a[i++]! });
  while (j < m) ops.push({ kind: "add", text: b[j++]! });
  return ops;
}

function range(start: number, count: number): string {
  // As diff(1) writes it: an empty range names the line before it.
  if (count === 0) return `${start},0`;
  return count === 1 ? `${start + 1}` : `${start + 1},${count}`;
}

/** Hunks with `context` unchanged lines around each change; empty when the texts are equal. */
export function unifiedDiff(oldText: string, newText: string, context = 3): DiffLine[] {
  const ops = diffOps(splitLines(oldText), splitLines(newText));
  const changed = ops.flatMap((op, index) => (op.kind === "context" ? [] : [index]));
  if (changed.length === 0) return [];

  // Group changes whose context windows touch into one hunk.
  const hunks: [number, number][] = [];
  for (const index of changed) {
    const from = Math.max(0, index - context);
    const to = Math.min(ops.length, index + context + 1);
    const last = hunks[hunks.length - 1];
    if (last && from <= last[1]) last[1] = to;
    else hunks.push([from, to]);
  }

  // Line numbers (0-based) before each op, in the old and the new text.
  const oldAt: number[] = [];
  const newAt: number[] = [];
  let o = 0;
  let n = 0;
  for (const op of ops) {
    oldAt.push(o);
    newAt.push(n);
    if (op.kind !== "add") o++;
    if (op.kind !== "del") n++;
  }

  const lines: DiffLine[] = [];
  for (const [from, to] of hunks) {
    let oldCount = 0;
    let newCount = 0;
    for (let k = from; k < to; k++) {
      if (ops[k]!.kind !== "add") oldCount++;
      if (ops[k]!.kind !== "del") newCount++;
    }
    lines.push({
      kind: "hunk",
      text: `@@ -${range(oldAt[from]!, oldCount)} +${range(newAt[from]!, newCount)} @@`,
    });
    for (let k = from; k < to; k++) {
      const op = ops[k]!;
      lines.push({
        kind: op.kind,
        text: op.text,
        oldLine: op.kind === "add" ? null : oldAt[k]! + 1,
        newLine: op.kind === "del" ? null : newAt[k]! + 1,
      });
    }
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
