// A session's transcript: every stored event by REST (`after=0`, page by page), then the live
// tail over the WebSocket from the last seq held, reconnecting from there after a drop.

import { useQueryClient } from "@tanstack/react-query";
import { useEffect, useReducer, useState } from "react";

import { api, data, isApiError } from "../api/client.ts";
import { openSessionEventStream } from "../api/eventStream.ts";
import { keys } from "../api/queries.ts";
import { CLOSE_UNAUTHORIZED } from "../api/generated/closeCodes.ts";
import type { SocketStatus } from "../api/socket.ts";
import type { SessionEvent } from "../api/types.ts";
import { applyEvents, emptyTranscript, type Transcript } from "../lib/transcript.ts";

const PAGE = 5000; // the API's largest: a long chat loads in few requests
/** Events after which the session's own record (state, last message) has changed. */
const REFRESHING_KINDS = new Set([
  "state",
  "turn_end",
  "permission_request",
  "permission_decision",
]);

type Action = { type: "reset" } | { type: "events"; events: SessionEvent[] };

function reducer(state: Transcript, action: Action): Transcript {
  return action.type === "reset" ? emptyTranscript() : applyEvents(state, action.events);
}

export type TranscriptStatus =
  SocketStatus | { state: "loading" } | { state: "failed"; message: string };

export function useSessionTranscript(sessionId: string) {
  const client = useQueryClient();
  const [transcript, dispatch] = useReducer(reducer, undefined, emptyTranscript);
  const [status, setStatus] = useState<TranscriptStatus>({ state: "loading" });
  // Prompts whose turn has begun (a `prompt` event): the prompt box shows the others as queued.
  const [startedPrompts, setStartedPrompts] = useState<ReadonlySet<string>>(() => new Set());

  useEffect(() => {
    const abort = new AbortController();
    let stream: { close(): void } | null = null;
    let lastSeq = 0;

    const accept = (events: SessionEvent[]) => {
      if (abort.signal.aborted) return;
      const fresh = events.filter((e) => e.seq > lastSeq);
      if (fresh.length === 0) return;
      for (const e of fresh) lastSeq = Math.max(lastSeq, e.seq);
      dispatch({ type: "events", events: fresh });
      const started = fresh.flatMap((e) =>
        e.kind === "prompt" && typeof e.payload.prompt_id === "string" ? [e.payload.prompt_id] : [],
      );
      if (started.length > 0) setStartedPrompts((known) => new Set([...known, ...started]));
      // A state change shows in the header and in the dashboard's lists.
      if (fresh.some((e) => REFRESHING_KINDS.has(e.kind))) {
        void client.invalidateQueries({ queryKey: keys.session(sessionId) });
      }
    };

    dispatch({ type: "reset" });
    setStartedPrompts(new Set());
    setStatus({ state: "loading" });

    void (async () => {
      try {
        for (;;) {
          const page = await data(
            api.GET("/api/v1/sessions/{session}/events", {
              params: { path: { session: sessionId }, query: { after: lastSeq, limit: PAGE } },
              signal: abort.signal,
            }),
          );
          accept(page.items);
          if (page.items.length < PAGE || lastSeq >= page.last_seq) break;
        }
      } catch (error) {
        if (abort.signal.aborted) return;
        if (isApiError(error) && (error.status === 401 || error.status === 404)) {
          if (error.status === 401) void client.invalidateQueries({ queryKey: keys.me });
          setStatus({ state: "failed", message: error.message });
          return;
        }
        // Anything else: the WebSocket replays from lastSeq too, so carry on.
      }
      if (abort.signal.aborted) return;
      stream = openSessionEventStream(sessionId, {
        after: () => lastSeq,
        onEvents: accept,
        onStatus: (next) => {
          if (abort.signal.aborted) return;
          if (next.state === "closed" && next.code === CLOSE_UNAUTHORIZED) {
            void client.invalidateQueries({ queryKey: keys.me });
          }
          setStatus(next);
        },
      });
    })();

    return () => {
      abort.abort();
      stream?.close();
    };
  }, [sessionId, client]);

  return { transcript, status, startedPrompts };
}
