// The live tail of a session's transcript over `/sessions/{id}/events/ws?after=N`. Each
// reconnect asks from the last seq the caller has seen, so nothing is missed; the caller drops
// anything at or below that seq, so nothing shows twice.

import { seg, wsUrl } from "./client.ts";
import { openReconnectingSocket, type ReconnectingSocket, type SocketStatus } from "./socket.ts";
import type { SessionEvent } from "./types.ts";

/** A text frame of `/sessions/{id}/events/ws`. */
interface EventsFrame {
  type: "events";
  events: (SessionEvent & { session_id?: string })[];
}

export interface EventStreamOptions {
  /** The last seq the caller holds: asked for again at each (re)connect. */
  after: () => number;
  onEvents: (events: SessionEvent[]) => void;
  onStatus: (status: SocketStatus) => void;
}

export function openSessionEventStream(
  sessionId: string,
  options: EventStreamOptions,
): ReconnectingSocket {
  return openReconnectingSocket({
    url: () => wsUrl(`/sessions/${seg(sessionId)}/events/ws`, { after: options.after() }),
    onStatus: options.onStatus,
    onFrame: (frame) => {
      const events = (frame as Partial<EventsFrame>).events;
      if ((frame as Partial<EventsFrame>).type === "events" && Array.isArray(events)) {
        if (events.length > 0) options.onEvents(events);
      }
    },
  });
}
