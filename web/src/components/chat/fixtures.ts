// Events for the transcript's tests, shaped as the control plane sends them (docs/sessions.md).

import type { SessionEvent } from "../../api/types.ts";
import { applyEvents, emptyTranscript, type Transcript } from "../../lib/transcript.ts";

export interface EventMaker {
  (kind: string, payload: Record<string, unknown>): SessionEvent;
  update(update: Record<string, unknown>): SessionEvent;
  text(kind: "agent" | "thought" | "user", text: string): SessionEvent;
}

const CHUNK_KINDS = {
  agent: "agent_message_chunk",
  thought: "agent_thought_chunk",
  user: "user_message_chunk",
};

/** Makes events numbered 1, 2, 3… */
export function eventMaker(): EventMaker {
  let seq = 0;
  const make = ((kind: string, payload: Record<string, unknown>): SessionEvent => ({
    seq: ++seq,
    kind,
    payload,
    at: "2026-01-01T00:00:00Z",
  })) as EventMaker;
  make.update = (update) => make("update", update);
  make.text = (kind, text) =>
    make("update", { sessionUpdate: CHUNK_KINDS[kind], content: { type: "text", text } });
  return make;
}

export function fold(events: readonly SessionEvent[], from?: Transcript): Transcript {
  return applyEvents(from ?? emptyTranscript(), events);
}

export const ALLOW_REJECT = [
  { optionId: "allow", name: "Allow", kind: "allow_once" },
  { optionId: "always", name: "Always allow", kind: "allow_always" },
  { optionId: "reject", name: "Reject", kind: "reject_once" },
];

/** A long chat: prompts, streamed replies and thoughts, tool calls with updates, plans. */
export function longChat(count: number): SessionEvent[] {
  const e = eventMaker();
  const events: SessionEvent[] = [];
  let turn = 0;
  while (events.length < count) {
    turn++;
    events.push(e("prompt", { prompt_id: `p${turn}`, text: `Question ${turn}`, resources: [] }));
    events.push(e.text("thought", `Thinking about ${turn}`));
    for (let i = 0; i < 5; i++) events.push(e.text("agent", `Part ${i} of answer ${turn}. `));
    events.push(
      e.update({
        sessionUpdate: "tool_call",
        toolCallId: `t${turn}`,
        title: `Read file ${turn}`,
        kind: "read",
        status: "pending",
      }),
    );
    events.push(
      e.update({ sessionUpdate: "tool_call_update", toolCallId: `t${turn}`, status: "completed" }),
    );
    events.push(e("turn_end", { prompt_id: `p${turn}`, stop_reason: "end_turn", usage: null }));
  }
  return events.slice(0, count);
}
