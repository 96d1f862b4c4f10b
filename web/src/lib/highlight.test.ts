import { describe, expect, it } from "vitest";

import { highlightCode, highlightLines, knownLanguage, languageForPath } from "./highlight.ts";

describe("highlight", () => {
  it("knows languages by fence name and by file extension", () => {
    expect(knownLanguage("TS")).toBe("ts");
    expect(knownLanguage("brainfuck")).toBeNull();
    expect(languageForPath("/w/src/App.tsx")).toBe("typescript");
    expect(languageForPath("main.PY")).toBe("python");
    expect(languageForPath("Makefile")).toBeNull();
  });

  it("escapes the code it highlights", () => {
    const html = highlightCode('const a = "<script>alert(1)</script>";', "js")!;
    expect(html).toContain("hljs-keyword");
    expect(html).not.toContain("<script>");
    expect(html).toContain("&lt;script&gt;");
    expect(highlightCode("plain", null)).toBeNull();
  });

  it("cuts highlighted text into lines whose spans are balanced", () => {
    const lines = highlightLines("a = 1\n/* one\ntwo */\nb = 2\n", "js")!;
    expect(lines).toHaveLength(4);
    for (const line of lines) {
      const opened = line.match(/<span/g)?.length ?? 0;
      const closed = line.match(/<\/span>/g)?.length ?? 0;
      expect(opened).toBe(closed);
    }
    // The comment goes on in the third line.
    expect(lines[2]).toContain('class="hljs-comment"');
    expect(highlightLines("x", "unknown-language")).toBeNull();
    expect(highlightLines("", "js")).toEqual([]);
  });
});
