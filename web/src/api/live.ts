// Live updates over `/live/ws`: the control plane names which of the user's lists changed and
// the app refetches those queries. While the socket is down, lists fall back to polling (see
// `pollUnlessLive`), so a page is never silently stale.

import type { QueryClient } from "@tanstack/react-query";
import { useSyncExternalStore } from "react";

import { wsUrl } from "./client.ts";
import { openReconnectingSocket, type ReconnectingSocket, type SocketStatus } from "./socket.ts";

interface LiveFrame {
  type: "ready" | "changed";
  topics?: string[];
}

let status: SocketStatus = { state: "connecting" };
const listeners = new Set<() => void>();

function setStatus(next: SocketStatus) {
  status = next;
  for (const listener of listeners) listener();
}

/** The live connection's state, for the connection indicator. */
export function useLiveStatus(): SocketStatus {
  return useSyncExternalStore(
    (onChange) => {
      listeners.add(onChange);
      return () => listeners.delete(onChange);
    },
    () => status,
  );
}

export function isLive(): boolean {
  return status.state === "live";
}

/**
 * Open the live connection for the signed-in user. Each topic is the first element of the
 * query keys it invalidates (`["sessions", …]`, `["nodes"]`, …).
 */
export function openLiveUpdates(client: QueryClient): ReconnectingSocket {
  return openReconnectingSocket({
    url: () => wsUrl("/live/ws"),
    onStatus: (next) => {
      const wasLive = isLive();
      setStatus(next);
      // Down: refetch now, which also restarts polling on the lists that need it.
      if (wasLive && next.state !== "live") void client.invalidateQueries();
    },
    onFrame: (frame) => {
      const live = frame as Partial<LiveFrame>;
      if (live.type === "ready") {
        // Changes made while disconnected were not kept for us: refetch everything shown.
        void client.invalidateQueries();
      } else if (live.type === "changed" && Array.isArray(live.topics)) {
        for (const topic of live.topics) {
          if (typeof topic === "string") void client.invalidateQueries({ queryKey: [topic] });
        }
      }
    },
  });
}
