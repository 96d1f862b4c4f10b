// The live tail of a session's transcript over `/sessions/{id}/events/ws?after=N`. Reconnects
// with exponential backoff (and jitter), each time from the last seq the caller has seen, so
// nothing is missed; the caller drops anything at or below that seq, so nothing shows twice.

import { seg, wsUrl } from "./client.ts";
import type { EventsFrame, SessionEvent } from "./types.ts";

export type StreamStatus =
  | { state: "connecting" }
  | { state: "live" }
  | { state: "reconnecting"; attempt: number; retryAt: number }
  | { state: "closed"; code: number; reason: string };

export interface EventStreamOptions {
  /** The last seq the caller holds: asked for again at each (re)connect. */
  after: () => number;
  onEvents: (events: SessionEvent[]) => void;
  onStatus: (status: StreamStatus) => void;
}

export interface EventStream {
  close(): void;
}

/** Close codes after which reconnecting cannot help (corral.protocol.viewer). */
export const CLOSE_UNAUTHORIZED = 4401;
export const CLOSE_NOT_FOUND = 4404;
export const CLOSE_CONFLICT = 4409;
const FINAL_CLOSE_CODES = new Set([
  1003,
  1007,
  1008,
  1009,
  CLOSE_UNAUTHORIZED,
  CLOSE_NOT_FOUND,
  CLOSE_CONFLICT,
]);

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;
/** A connection that stays up this long resets the backoff. */
const STABLE_MS = 5_000;

export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** attempt);
  return Math.round(base / 2 + (random() * base) / 2);
}

export function openSessionEventStream(
  sessionId: string,
  options: EventStreamOptions,
): EventStream {
  let socket: WebSocket | null = null;
  let attempt = 0;
  let stopped = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let stableTimer: ReturnType<typeof setTimeout> | undefined;

  const connect = () => {
    retryTimer = undefined;
    if (stopped) return;
    options.onStatus({ state: "connecting" });
    const ws = new WebSocket(
      wsUrl(`/sessions/${seg(sessionId)}/events/ws`, { after: options.after() }),
    );
    socket = ws;
    ws.onopen = () => {
      options.onStatus({ state: "live" });
      stableTimer = setTimeout(() => (attempt = 0), STABLE_MS);
    };
    ws.onmessage = (message: MessageEvent) => {
      if (typeof message.data !== "string") return;
      let frame: EventsFrame;
      try {
        frame = JSON.parse(message.data) as EventsFrame;
      } catch {
        return;
      }
      if (frame.type === "events" && Array.isArray(frame.events) && frame.events.length > 0) {
        attempt = 0;
        options.onEvents(frame.events);
      }
    };
    ws.onclose = (event: CloseEvent) => {
      clearTimeout(stableTimer);
      if (socket === ws) socket = null;
      if (stopped) return;
      if (FINAL_CLOSE_CODES.has(event.code)) {
        options.onStatus({ state: "closed", code: event.code, reason: event.reason });
        return;
      }
      const delay = backoffDelay(attempt);
      attempt += 1;
      options.onStatus({ state: "reconnecting", attempt, retryAt: Date.now() + delay });
      retryTimer = setTimeout(connect, delay);
    };
  };

  // Back online, or the tab shown again: try now rather than wait out the backoff.
  const retryNow = () => {
    if (retryTimer !== undefined && navigator.onLine && document.visibilityState === "visible") {
      clearTimeout(retryTimer);
      connect();
    }
  };
  window.addEventListener("online", retryNow);
  document.addEventListener("visibilitychange", retryNow);
  connect();

  return {
    close() {
      stopped = true;
      window.removeEventListener("online", retryNow);
      document.removeEventListener("visibilitychange", retryNow);
      clearTimeout(retryTimer);
      clearTimeout(stableTimer);
      const ws = socket;
      socket = null;
      if (ws) {
        ws.onopen = ws.onmessage = ws.onclose = null;
        // Closing a socket that is still connecting logs a warning in some browsers.
        if (ws.readyState === WebSocket.CONNECTING) ws.onopen = () => ws.close(1000);
        else ws.close(1000);
      }
    },
  };
}
