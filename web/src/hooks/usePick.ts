import { useState } from "react";

/**
 * One of `options` by its name, for a select whose choices come and go (they load, or change
 * with another field): the one picked while it is among them, else the first. No effect has to
 * keep the choice valid.
 */
export function usePick<T extends { name: string }>(
  options: readonly T[],
): [T | undefined, (name: string) => void] {
  const [picked, setPicked] = useState<string | null>(null);
  return [options.find((o) => o.name === picked) ?? options[0], setPicked];
}
