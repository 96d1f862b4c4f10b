// Syntax highlighting for the transcript's code blocks and diffs: highlight.js's core with a
// modest set of languages registered (the full bundle is ~1 MB; these are ~60 KB). Its output is
// HTML in which the code's own text is escaped and the only markup is highlight.js's
// `<span class="hljs-…">`, which is why the components may insert it as HTML.

import hljs from "highlight.js/lib/core";
import bash from "highlight.js/lib/languages/bash";
import css from "highlight.js/lib/languages/css";
import diff from "highlight.js/lib/languages/diff";
import go from "highlight.js/lib/languages/go";
import javascript from "highlight.js/lib/languages/javascript";
import json from "highlight.js/lib/languages/json";
import markdown from "highlight.js/lib/languages/markdown";
import python from "highlight.js/lib/languages/python";
import rust from "highlight.js/lib/languages/rust";
import shell from "highlight.js/lib/languages/shell";
import sql from "highlight.js/lib/languages/sql";
import typescript from "highlight.js/lib/languages/typescript";
import xml from "highlight.js/lib/languages/xml";
import yaml from "highlight.js/lib/languages/yaml";

// Each brings its usual aliases (ts, js, jsx, py, sh, zsh, yml, html, svg, md, rs, golang…).
const LANGUAGES = {
  bash,
  css,
  diff,
  go,
  javascript,
  json,
  markdown,
  python,
  rust,
  shell,
  sql,
  typescript,
  xml,
  yaml,
};
for (const [name, language] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, language);
hljs.registerAliases(["tsx", "mts", "cts"], { languageName: "typescript" });
hljs.registerAliases(["mjs", "cjs", "node"], { languageName: "javascript" });
hljs.registerAliases(["patch"], { languageName: "diff" });
hljs.registerAliases(["jsonc", "json5"], { languageName: "json" });

/** Past this many characters, code is shown plain: highlighting it would stall the page. */
export const MAX_HIGHLIGHT_CHARS = 100_000;

const EXTENSIONS: Record<string, string> = {
  ts: "typescript",
  tsx: "typescript",
  mts: "typescript",
  cts: "typescript",
  js: "javascript",
  jsx: "javascript",
  mjs: "javascript",
  cjs: "javascript",
  py: "python",
  pyi: "python",
  sh: "bash",
  bash: "bash",
  zsh: "bash",
  json: "json",
  jsonc: "json",
  diff: "diff",
  patch: "diff",
  go: "go",
  rs: "rust",
  yml: "yaml",
  yaml: "yaml",
  css: "css",
  html: "xml",
  htm: "xml",
  xml: "xml",
  svg: "xml",
  sql: "sql",
  md: "markdown",
  markdown: "markdown",
};

/** The registered language a fence's info string names ("ts", "Python"…), if any. */
export function knownLanguage(name: string | null | undefined): string | null {
  const lower = name?.trim().toLowerCase();
  if (!lower) return null;
  return hljs.getLanguage(lower) ? lower : null;
}

/** The language of a file from its name, if one is registered. */
export function languageForPath(path: string): string | null {
  const name = path.split(/[\\/]/).pop() ?? "";
  const dot = name.lastIndexOf(".");
  if (dot < 0) return null;
  return EXTENSIONS[name.slice(dot + 1).toLowerCase()] ?? null;
}

/** `code` as highlighted HTML, or null (no known language, too long, or it failed). */
export function highlightCode(code: string, language: string | null | undefined): string | null {
  const known = knownLanguage(language);
  if (known === null || code.length > MAX_HIGHLIGHT_CHARS) return null;
  try {
    return hljs.highlight(code, { language: known, ignoreIllegals: true }).value;
  } catch {
    return null;
  }
}

const TAG = /<span class="[^"]*">|<\/span>|\n/g;

/**
 * `text` highlighted as a whole (so a comment or string over several lines stays one) and cut
 * into lines as `splitLines` cuts it, each line's HTML closing the spans it opened and reopening
 * the ones it continues. Null when `highlightCode` gives nothing.
 */
export function highlightLines(text: string, language: string | null | undefined): string[] | null {
  if (text === "") return knownLanguage(language) ? [] : null;
  let normal = text.replace(/\r\n/g, "\n");
  if (normal.endsWith("\n")) normal = normal.slice(0, -1);
  const html = highlightCode(normal, language);
  if (html === null) return null;
  const lines: string[] = [];
  const open: string[] = [];
  let line = "";
  let at = 0;
  for (const match of html.matchAll(TAG)) {
    line += html.slice(at, match.index);
    at = match.index + match[0].length;
    const tag = match[0];
    if (tag === "\n") {
      lines.push(line + "</span>".repeat(open.length));
      line = open.join("");
    } else if (tag === "</span>") {
      open.pop();
      line += tag;
    } else {
      open.push(tag);
      line += tag;
    }
  }
  lines.push(line + html.slice(at));
  return lines;
}
