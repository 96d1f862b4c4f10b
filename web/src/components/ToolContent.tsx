import type { ToolCallContent, ToolCallContentOf } from "../lib/acpPayload.ts";
import { contentText, type TerminalRun } from "../lib/transcript.ts";
import { Markdown } from "./chat/Markdown.tsx";
import { useRowState } from "./chat/rowState.ts";
import { TerminalOutput } from "./chat/TerminalOutput.tsx";
import { DiffView } from "./DiffView.tsx";

/** Text past this is shown on request: parsing a whole file read as markdown would stall. */
const MAX_TEXT_CHARS = 20_000;

function TextContent({ text, stateKey }: { text: string; stateKey?: string }) {
  const [full, setFull] = useRowState(stateKey, false);
  const clipped = !full && text.length > MAX_TEXT_CHARS;
  return (
    <div className="tool-output">
      <Markdown text={clipped ? text.slice(0, MAX_TEXT_CHARS) : text} />
      {clipped && (
        <button type="button" className="show-more" onClick={() => setFull(true)}>
          Show {(text.length - MAX_TEXT_CHARS).toLocaleString()} more characters
        </button>
      )}
    </div>
  );
}

/**
 * The content of a tool call: text (as markdown), diffs, and terminals (with the output Corral
 * recorded for them, from `terminals`). `stateKey` prefixes the keys of each part's UI state.
 */
export function ToolContent({
  content,
  terminals = {},
  stateKey,
}: {
  content: readonly ToolCallContent[];
  terminals?: Readonly<Record<string, TerminalRun>>;
  stateKey?: string;
}) {
  const keyOf = (i: number) => (stateKey ? `${stateKey}:${i}` : undefined);
  return (
    <>
      {content.map((item, i) => {
        if (item.type === "diff") {
          const diff = item as ToolCallContentOf<"diff">;
          return (
            <DiffView
              key={i}
              path={diff.path ?? ""}
              oldText={diff.oldText}
              newText={diff.newText ?? ""}
              stateKey={keyOf(i)}
            />
          );
        }
        if (item.type === "content") {
          const block = (item as ToolCallContentOf<"content">).content;
          const text = contentText(block);
          if (!text) return null;
          if (block?.type !== "text") {
            return (
              <p key={i} className="tool-output muted">
                {text}
              </p>
            );
          }
          return <TextContent key={i} text={text} stateKey={keyOf(i)} />;
        }
        if (item.type === "terminal") {
          const terminalId = String((item as ToolCallContentOf<"terminal">).terminalId ?? "");
          return (
            <TerminalOutput key={i} terminalId={terminalId} run={terminals[terminalId] ?? null} />
          );
        }
        return (
          <p key={i} className="muted">
            [{item.type} content]
          </p>
        );
      })}
    </>
  );
}
