import type { AcpToolCallContent } from "../api/types.ts";
import { contentText } from "../lib/transcript.ts";
import { DiffView } from "./DiffView.tsx";

const MAX_OUTPUT_CHARS = 8000;

/** The content of a tool call: diffs, text output, and references to terminals. */
export function ToolContent({ content }: { content: readonly AcpToolCallContent[] }) {
  return (
    <>
      {content.map((item, i) => {
        if (item.type === "diff") {
          const diff = item as { path?: string; oldText?: string | null; newText?: string };
          return (
            <DiffView
              key={i}
              path={diff.path ?? ""}
              oldText={diff.oldText}
              newText={diff.newText ?? ""}
            />
          );
        }
        if (item.type === "content") {
          const text = contentText((item as { content?: unknown }).content);
          if (!text) return null;
          const clipped = text.length > MAX_OUTPUT_CHARS;
          return (
            <pre key={i} className="tool-output">
              {clipped ? `${text.slice(0, MAX_OUTPUT_CHARS)}\n…` : text}
            </pre>
          );
        }
        if (item.type === "terminal") {
          return (
            <p key={i} className="muted">
              Terminal {String((item as { terminalId?: string }).terminalId ?? "")}
            </p>
          );
        }
        return null;
      })}
    </>
  );
}
