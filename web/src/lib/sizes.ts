// Amounts of memory and CPUs as people write and read them, as the CLI does (corral.sizes):
// "2g" is 2 GiB, as `docker run --memory` reads it; "2 GiB", "1.5 GiB", "512 MiB" shown.

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
const POWERS: Record<string, number> = { k: 1, m: 2, g: 3, t: 4 };

/** Bytes from `2g`, `512m`, `1.5GiB`, `2 GB` or a number of bytes; null if it is none of them. */
export function parseBytes(text: string): number | null {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(?:([kmgtp])(i?b)?|(b))?\s*$/i.exec(text);
  if (!match) return null;
  const [, number = "", letter, suffix] = match;
  const value = Number(number);
  if (!letter) return Math.floor(value);
  const power = POWERS[letter.toLowerCase()] ?? 5;
  // A bare letter or one with iB is binary; "GB" spelt out is decimal.
  const base = suffix && suffix.toLowerCase() === "b" ? 1000 : 1024;
  return Math.floor(value * base ** power);
}

/** `2 GiB`, `512 MiB`, `1.5 GiB`: binary units, one decimal where it is not zero. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = unit === 0 ? String(value) : value.toFixed(1).replace(/\.0$/, "");
  return `${shown} ${UNITS[unit]}`;
}

/** `1 CPU`, `2 CPUs`, `1.5 CPUs`. */
export function formatCpus(cpus: number): string {
  return cpus === 1 ? "1 CPU" : `${cpus} CPUs`;
}

/** A workspace's or project's limits in a few words: `2 CPUs, 4 GiB, 512 processes`. */
export function describeLimits(
  limits: { cpus?: number | null; memory_bytes?: number | null; pids?: number | null },
  unset: string,
): string {
  const parts = [];
  if (limits.cpus != null) parts.push(formatCpus(limits.cpus));
  if (limits.memory_bytes != null) parts.push(`${formatBytes(limits.memory_bytes)} of memory`);
  if (limits.pids != null) parts.push(`${limits.pids} processes`);
  return parts.join(", ") || unset;
}
