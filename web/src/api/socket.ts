// A WebSocket that reconnects: exponential backoff with jitter, reset once a connection has
// stayed up a while, and an immediate retry when the browser comes back online or the tab is
// shown again. Close codes after which retrying cannot help end it for good.

import { CLOSE_NORMAL, FINAL_CLOSE_CODES } from "./generated/closeCodes.ts";

export type SocketStatus =
  | { state: "connecting" }
  | { state: "live" }
  | { state: "reconnecting"; attempt: number; retryAt: number }
  | { state: "closed"; code: number; reason: string };

export interface ReconnectingSocketOptions {
  /** The URL to open, asked again at each (re)connect (it may carry a resume point). */
  url: () => string;
  /** Each text frame, parsed as JSON; frames that are not JSON are dropped. */
  onFrame: (frame: unknown) => void;
  /** Each binary frame; binary frames are dropped without it. */
  onBinary?: (data: ArrayBuffer) => void;
  onStatus: (status: SocketStatus) => void;
  /** Close codes that end it for good, in place of `DEFAULT_FINAL_CODES`. */
  finalCodes?: ReadonlySet<number>;
}

export interface ReconnectingSocket {
  /** Send on the open connection; false (and nothing sent) while it is not open. */
  send(data: string | ArrayBufferView<ArrayBuffer>): boolean;
  close(): void;
}

/**
 * The close codes after which a socket stops for good, by default: the control plane's
 * FINAL_CLOSE_CODES (generated/closeCodes.ts) but a normal close, after which a live-updates
 * or session-events socket reconnects (only a terminal's ends there: TerminalView).
 */
export const DEFAULT_FINAL_CODES: ReadonlySet<number> = new Set(
  [...FINAL_CLOSE_CODES].filter((code) => code !== CLOSE_NORMAL),
);

const MIN_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;
/** A connection that stays up this long resets the backoff. */
const STABLE_MS = 5_000;

export function backoffDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(MAX_DELAY_MS, MIN_DELAY_MS * 2 ** attempt);
  return Math.round(base / 2 + (random() * base) / 2);
}

export function openReconnectingSocket(options: ReconnectingSocketOptions): ReconnectingSocket {
  let socket: WebSocket | null = null;
  let attempt = 0;
  let stopped = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;
  let stableTimer: ReturnType<typeof setTimeout> | undefined;

  const connect = () => {
    retryTimer = undefined;
    if (stopped) return;
    options.onStatus({ state: "connecting" });
    const ws = new WebSocket(options.url());
    ws.binaryType = "arraybuffer";
    socket = ws;
    ws.onopen = () => {
      options.onStatus({ state: "live" });
      stableTimer = setTimeout(() => (attempt = 0), STABLE_MS);
    };
    ws.onmessage = (message: MessageEvent) => {
      if (typeof message.data !== "string") {
        if (message.data instanceof ArrayBuffer) options.onBinary?.(message.data);
        return;
      }
      let frame: unknown;
      try {
        frame = JSON.parse(message.data);
      } catch {
        return;
      }
      options.onFrame(frame);
    };
    ws.onclose = (event: CloseEvent) => {
      clearTimeout(stableTimer);
      if (socket === ws) socket = null;
      if (stopped) return;
      if ((options.finalCodes ?? DEFAULT_FINAL_CODES).has(event.code)) {
        options.onStatus({ state: "closed", code: event.code, reason: event.reason });
        return;
      }
      const delay = backoffDelay(attempt);
      attempt += 1;
      options.onStatus({ state: "reconnecting", attempt, retryAt: Date.now() + delay });
      retryTimer = setTimeout(connect, delay);
    };
  };

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
    send(data) {
      if (socket === null || socket.readyState !== WebSocket.OPEN) return false;
      socket.send(data);
      return true;
    },
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
