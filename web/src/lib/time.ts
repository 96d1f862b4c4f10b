// Durations and times for people: "42s", "3m 5s", "2h 10m", "4d 3h".

/** Milliseconds since the epoch of an API datetime (UTC; tolerates one without an offset). */
export function parseTime(value: string): number {
  const hasZone = /(Z|[+-]\d\d:?\d\d)$/i.test(value);
  return Date.parse(hasZone ? value : `${value}Z`);
}

export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h ${m % 60}m`;
  const d = Math.floor(h / 24);
  return `${d}d ${h % 24}h`;
}

export function formatAgo(ms: number): string {
  return ms < 5000 ? "just now" : `${formatDuration(ms)} ago`;
}

const absolute = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });

export function formatAbsolute(value: string): string {
  const t = parseTime(value);
  return Number.isNaN(t) ? value : absolute.format(t);
}

const clock = new Intl.DateTimeFormat(undefined, { timeStyle: "medium" });

/** The time of day of an API datetime, in the browser's zone: "14:03:12". */
export function formatClock(value: string): string {
  const t = parseTime(value);
  return Number.isNaN(t) ? value : clock.format(t);
}
