import { describe, expect, it } from "vitest";

import { diffStats, splitRows, unifiedDiff } from "./diff.ts";

describe("unifiedDiff", () => {
  it("numbers each line in the old and the new text", () => {
    const lines = unifiedDiff("a\nb\nc\n", "a\nB\nc\nd\n");
    expect(lines).toEqual([
      { kind: "hunk", text: "@@ -1,3 +1,4 @@" },
      { kind: "context", text: "a", oldLine: 1, newLine: 1 },
      { kind: "del", text: "b", oldLine: 2, newLine: null },
      { kind: "add", text: "B", oldLine: null, newLine: 2 },
      { kind: "context", text: "c", oldLine: 3, newLine: 3 },
      { kind: "add", text: "d", oldLine: null, newLine: 4 },
    ]);
    expect(diffStats(lines)).toEqual({ added: 2, removed: 1 });
  });

  it("shows a new file as all added and equal texts as nothing", () => {
    expect(unifiedDiff("", "x\ny\n")).toEqual([
      { kind: "hunk", text: "@@ -0,0 +1,2 @@" },
      { kind: "add", text: "x", oldLine: null, newLine: 1 },
      { kind: "add", text: "y", oldLine: null, newLine: 2 },
    ]);
    expect(unifiedDiff("same\n", "same\n")).toEqual([]);
  });

  it("keeps far-apart changes in separate hunks", () => {
    const old = Array.from({ length: 20 }, (_, i) => `line ${i}`).join("\n");
    const changed = old.replace("line 1\n", "one\n").replace("line 18", "eighteen");
    const hunks = unifiedDiff(old, changed, 2).filter((l) => l.kind === "hunk");
    expect(hunks.map((h) => h.text)).toEqual(["@@ -1,4 +1,4 @@", "@@ -17,4 +17,4 @@"]);
  });

  it("shows a change too large to look into as removed, then added", () => {
    const text = (word: string) =>
      ["top", ...Array.from({ length: 1200 }, (_, i) => `${word} ${i}`), "end"].join("\n");
    const lines = unifiedDiff(text("old"), text("new"), 1);
    expect(lines).toHaveLength(1 + 1 + 1200 + 1200 + 1);
    expect(lines[0]).toEqual({ kind: "hunk", text: "@@ -1,1202 +1,1202 @@" });
    expect(lines[1]).toEqual({ kind: "context", text: "top", oldLine: 1, newLine: 1 });
    expect(lines[2]).toEqual({ kind: "del", text: "old 0", oldLine: 2, newLine: null });
    expect(lines[1202]).toEqual({ kind: "add", text: "new 0", oldLine: null, newLine: 2 });
    expect(lines.at(-1)).toEqual({ kind: "context", text: "end", oldLine: 1202, newLine: 1202 });
  });

  it("takes a line the same whatever ends it", () => {
    expect(unifiedDiff("a\r\nb", "a\nb\n")).toEqual([]);
  });
});

describe("splitRows", () => {
  it("pairs removed lines with the added lines after them", () => {
    const rows = splitRows(unifiedDiff("a\nb\nc\nd\n", "a\nB\nC\nX\nd\n"));
    expect(rows).toEqual([
      { kind: "hunk", text: "@@ -1,4 +1,5 @@" },
      {
        kind: "pair",
        left: { kind: "context", text: "a", line: 1 },
        right: { kind: "context", text: "a", line: 1 },
      },
      {
        kind: "pair",
        left: { kind: "del", text: "b", line: 2 },
        right: { kind: "add", text: "B", line: 2 },
      },
      {
        kind: "pair",
        left: { kind: "del", text: "c", line: 3 },
        right: { kind: "add", text: "C", line: 3 },
      },
      { kind: "pair", left: null, right: { kind: "add", text: "X", line: 4 } },
      {
        kind: "pair",
        left: { kind: "context", text: "d", line: 4 },
        right: { kind: "context", text: "d", line: 5 },
      },
    ]);
  });
});
