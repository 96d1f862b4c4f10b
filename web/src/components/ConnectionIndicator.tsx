import { useIsFetching } from "@tanstack/react-query";

import { useLiveStatus } from "../api/live.ts";
import { POLL_MS } from "../api/queries.ts";
import type { SocketStatus } from "../api/socket.ts";
import { useNow } from "../hooks/useNow.ts";
import { useOnline } from "../hooks/useOnline.ts";

function describe(status: SocketStatus, online: boolean, now: number): [string, string] {
  if (!online) return ["Offline", "The browser has no network; lists show what was last read."];
  switch (status.state) {
    case "live":
      return ["Live", "Connected: lists update as things change."];
    case "connecting":
      return ["Connecting", "Opening the live connection…"];
    case "reconnecting": {
      const seconds = Math.max(0, Math.ceil((status.retryAt - now) / 1000));
      return [
        "Reconnecting",
        `Live connection lost; retrying in ${seconds} s. Lists are polled every ${POLL_MS / 1000} s meanwhile.`,
      ];
    }
    case "closed":
      return ["Disconnected", `Live updates stopped: ${status.reason || `code ${status.code}`}.`];
  }
}

/** How fresh the page is: the live connection's state, and a busy dot while anything loads. */
export function ConnectionIndicator() {
  const online = useOnline();
  const status = useLiveStatus();
  const now = useNow(1000);
  const fetching = useIsFetching() > 0;
  const [label, detail] = describe(status, online, now);
  const ok = online && status.state === "live";
  return (
    <span
      className={`connection ${ok ? "connection-ok" : "connection-down"}`}
      role="status"
      data-testid="connection-indicator"
      data-state={online ? status.state : "offline"}
      title={detail}
    >
      <span className={`dot${fetching ? " dot-busy" : ""}`} aria-hidden="true" />
      {label}
      <span className="visually-hidden">: {detail}</span>
    </span>
  );
}
