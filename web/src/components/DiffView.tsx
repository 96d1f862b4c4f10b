import { useMemo } from "react";

import { unifiedDiff } from "../lib/diff.ts";

const MAX_LINES = 400;
const MARK = { context: " ", add: "+", del: "-" } as const;

/** A tool call's file change as a unified diff. A missing `oldText` is a new file. */
export function DiffView({
  path,
  oldText,
  newText,
}: {
  path: string;
  oldText: string | null | undefined;
  newText: string;
}) {
  const lines = useMemo(() => unifiedDiff(oldText ?? "", newText), [oldText, newText]);
  const shown = lines.slice(0, MAX_LINES);
  return (
    <figure className="diff">
      <figcaption>
        {oldText == null ? "new file " : ""}
        <code>{path}</code>
      </figcaption>
      {lines.length === 0 ? (
        <p className="muted">No changes.</p>
      ) : (
        <pre aria-label={`Diff of ${path}`}>
          <code>
            {shown.map((line, i) =>
              line.kind === "hunk" ? (
                <span key={i} className="diff-hunk">
                  {line.text + "\n"}
                </span>
              ) : (
                <span key={i} className={`diff-${line.kind}`}>
                  {MARK[line.kind] + line.text + "\n"}
                </span>
              ),
            )}
          </code>
        </pre>
      )}
      {lines.length > MAX_LINES && (
        <p className="muted">… {lines.length - MAX_LINES} more lines</p>
      )}
    </figure>
  );
}
