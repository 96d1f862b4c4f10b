import { useNow } from "../hooks/useNow.ts";
import { formatAbsolute, formatAgo, formatDuration, parseTime } from "../lib/time.ts";

/** "3m 12s" since `since`, ticking every second. */
export function Elapsed({ since }: { since: string }) {
  const now = useNow(1000);
  return (
    <time dateTime={since} title={formatAbsolute(since)}>
      {formatDuration(now - parseTime(since))}
    </time>
  );
}

/** "5m 3s ago", refreshed every few seconds. */
export function Ago({ at }: { at: string }) {
  const now = useNow(5000);
  return (
    <time dateTime={at} title={formatAbsolute(at)}>
      {formatAgo(now - parseTime(at))}
    </time>
  );
}
