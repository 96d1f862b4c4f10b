import { memo, useMemo } from "react";

import { diffStats, splitRows, unifiedDiff, type DiffCell } from "../lib/diff.ts";
import { highlightLines, languageForPath } from "../lib/highlight.ts";
import { useRowState } from "./chat/rowState.ts";
import { useDisplayPath } from "./chat/paths.ts";

const MAX_ROWS = 400;
const MARK = { context: " ", add: "+", del: "-" } as const;

export type DiffMode = "unified" | "split";

/** One line's code: highlighted HTML when there is some, else the plain text. */
function Code({ html, text }: { html: string | undefined; text: string }) {
  return html === undefined ? (
    <code>{text}</code>
  ) : (
    // From lib/highlight.ts: highlight.js escapes the text and adds only its own <span>s.
    <code dangerouslySetInnerHTML={{ __html: html }} />
  );
}

function SplitCells({ cell, lines }: { cell: DiffCell | null; lines: string[] | null }) {
  if (cell === null) {
    return (
      <>
        <td className="diff-num diff-empty" />
        <td className="diff-code diff-empty" />
      </>
    );
  }
  return (
    <>
      <td className={`diff-num diff-${cell.kind}`}>{cell.line}</td>
      <td className={`diff-code diff-${cell.kind}`}>
        <span className="diff-mark">{MARK[cell.kind]}</span>
        <Code html={lines?.[cell.line - 1]} text={cell.text} />
      </td>
    </>
  );
}

/**
 * A tool call's file change, unified or side by side (a toggle per diff, kept under `stateKey`),
 * with line numbers and highlighting by the file's extension. A missing `oldText` is a new file;
 * an empty `newText` after some old text, a deleted one.
 */
export const DiffView = memo(function DiffView({
  path,
  oldText,
  newText,
  stateKey,
  defaultMode = "unified",
}: {
  path: string;
  oldText: string | null | undefined;
  newText: string;
  stateKey?: string;
  defaultMode?: DiffMode;
}) {
  const [mode, setMode] = useRowState<DiffMode>(stateKey, defaultMode);
  const display = useDisplayPath();
  const lines = useMemo(() => unifiedDiff(oldText ?? "", newText), [oldText, newText]);
  const language = languageForPath(path);
  const oldLines = useMemo(() => highlightLines(oldText ?? "", language), [oldText, language]);
  const newLines = useMemo(() => highlightLines(newText, language), [newText, language]);
  const rows = useMemo(() => (mode === "split" ? splitRows(lines) : null), [mode, lines]);
  const stats = diffStats(lines);
  const status =
    oldText == null ? "new file" : newText === "" && oldText !== "" ? "deleted file" : null;
  const total = rows ? rows.length : lines.length;

  return (
    <figure className={`diff diff-mode-${mode}`}>
      <figcaption className="diff-header">
        {status && <span className="tag diff-status">{status}</span>}
        <code className="diff-path" title={path}>
          {display(path)}
        </code>
        <span className="diff-stats">
          <span className="diff-added">+{stats.added}</span>{" "}
          <span className="diff-removed">−{stats.removed}</span>
        </span>
        <span className="diff-toggle" role="group" aria-label="Diff view">
          {(["unified", "split"] as const).map((m) => (
            <button key={m} type="button" aria-pressed={mode === m} onClick={() => setMode(m)}>
              {m === "unified" ? "Unified" : "Split"}
            </button>
          ))}
        </span>
      </figcaption>
      {lines.length === 0 ? (
        <p className="muted">No changes.</p>
      ) : (
        <div className="diff-scroll">
          <table className="diff-table" aria-label={`Diff of ${display(path)} (${mode})`}>
            <tbody>
              {rows === null
                ? lines.slice(0, MAX_ROWS).map((line, i) =>
                    line.kind === "hunk" ? (
                      <tr key={i} className="diff-hunk">
                        <td colSpan={3}>{line.text}</td>
                      </tr>
                    ) : (
                      <tr key={i} className={`diff-${line.kind}`}>
                        <td className="diff-num">{line.oldLine ?? ""}</td>
                        <td className="diff-num">{line.newLine ?? ""}</td>
                        <td className="diff-code">
                          <span className="diff-mark">{MARK[line.kind]}</span>
                          <Code
                            html={
                              line.kind === "del"
                                ? oldLines?.[line.oldLine! - 1]
                                : newLines?.[line.newLine! - 1]
                            }
                            text={line.text}
                          />
                        </td>
                      </tr>
                    ),
                  )
                : rows.slice(0, MAX_ROWS).map((row, i) =>
                    row.kind === "hunk" ? (
                      <tr key={i} className="diff-hunk">
                        <td colSpan={4}>{row.text}</td>
                      </tr>
                    ) : (
                      <tr key={i}>
                        <SplitCells cell={row.left} lines={oldLines} />
                        <SplitCells cell={row.right} lines={newLines} />
                      </tr>
                    ),
                  )}
            </tbody>
          </table>
        </div>
      )}
      {total > MAX_ROWS && <p className="muted">… {total - MAX_ROWS} more lines</p>}
    </figure>
  );
});
