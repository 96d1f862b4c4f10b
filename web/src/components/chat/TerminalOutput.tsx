import { memo, useMemo } from "react";

import type { TerminalRun } from "../../lib/transcript.ts";
import { Disclosure } from "./Disclosure.tsx";

const ANSI = /\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

/** What a terminal shows: escape sequences dropped, and a line redrawn after `\r` as redrawn. */
export function plainOutput(output: string): string {
  return output
    .replace(ANSI, "")
    .replace(/\r\n/g, "\n")
    .split("\n")
    .map((line) => line.slice(line.lastIndexOf("\r") + 1))
    .join("\n");
}

function exitText(run: TerminalRun): string | null {
  if (run.running) return "running…";
  if (run.signal) return `killed by ${run.signal}`;
  if (run.exitCode !== null) return `exit ${run.exitCode}`;
  return null;
}

function Output({ run }: { run: TerminalRun }) {
  const text = useMemo(() => plainOutput(run.output), [run.output]);
  return (
    <pre className="terminal-output">
      {run.truncated && <span className="muted">{"… (earlier output cut)\n"}</span>}
      {text || <span className="muted">(no output)</span>}
    </pre>
  );
}

/**
 * A command the agent ran through Corral and what it printed, as it runs and once it ended:
 * inside a tool call card, open; on its own, a collapsed row. `run` is null until the node
 * reports the command (when it starts).
 */
export const TerminalOutput = memo(function TerminalOutput({
  run,
  terminalId,
  collapsible = false,
  stateKey,
}: {
  run: TerminalRun | null;
  terminalId: string;
  collapsible?: boolean;
  stateKey?: string;
}) {
  if (run === null) {
    return (
      <p className="terminal terminal-waiting muted">
        Terminal <code>{terminalId}</code>: waiting for the command to start.
      </p>
    );
  }
  const exit = exitText(run);
  const failed = run.signal !== null || (run.exitCode !== null && run.exitCode !== 0);
  const summary = (
    <>
      <code className="terminal-command">$ {run.command}</code>
      {exit && (
        <span className={failed ? "terminal-exit error" : "terminal-exit muted"}> ({exit})</span>
      )}
    </>
  );
  if (collapsible) {
    return (
      <Disclosure className="terminal" summary={summary} stateKey={stateKey}>
        <Output run={run} />
      </Disclosure>
    );
  }
  return (
    <div className="terminal">
      <p className="terminal-summary">{summary}</p>
      <Output run={run} />
    </div>
  );
});
