import { useIsFetching } from "@tanstack/react-query";

import { POLL_MS } from "../api/queries.ts";
import { useOnline } from "../hooks/useOnline.ts";

/**
 * How fresh the page is. A placeholder until the app has its own live connection: for now it
 * says whether the browser is online and that lists are polled.
 */
export function ConnectionIndicator() {
  const online = useOnline();
  const fetching = useIsFetching() > 0;
  const label = online ? `Polling every ${POLL_MS / 1000} s` : "Offline";
  return (
    <span
      className={`connection ${online ? "connection-ok" : "connection-down"}`}
      role="status"
      data-testid="connection-indicator"
      title={label}
    >
      <span className={`dot${fetching ? " dot-busy" : ""}`} aria-hidden="true" />
      {online ? "Polling" : "Offline"}
    </span>
  );
}
