// The prompts this browser sent, newest last, for ↑/↓ in the prompt box. Kept in localStorage
// (they are the user's own words, on the user's own machine), across sessions and reloads.

import { useCallback, useRef } from "react";

const STORAGE_KEY = "corral.prompt-history";
export const MAX_PROMPT_HISTORY = 100;

function load(): string[] {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "[]");
    return Array.isArray(parsed) ? parsed.filter((p): p is string => typeof p === "string") : [];
  } catch {
    return [];
  }
}

export function usePromptHistory() {
  // Where ↑ has walked to (an index into the history), and the draft it started from.
  const position = useRef<number | null>(null);
  const draft = useRef("");

  const add = useCallback((prompt: string) => {
    const prompts = load().filter((p) => p !== prompt);
    prompts.push(prompt);
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify(prompts.slice(-MAX_PROMPT_HISTORY)));
    } catch {
      // No storage: history lasts as long as nothing; sending still works.
    }
    position.current = null;
  }, []);

  /** The prompt before the one shown, or null at the oldest. */
  const older = useCallback((current: string): string | null => {
    const prompts = load();
    if (position.current === null) {
      draft.current = current;
      position.current = prompts.length;
    }
    if (position.current === 0) return null;
    position.current -= 1;
    return prompts[position.current] ?? null;
  }, []);

  /** The prompt after the one shown, the draft after the newest, or null when not walking. */
  const newer = useCallback((): string | null => {
    if (position.current === null) return null;
    const prompts = load();
    position.current += 1;
    if (position.current >= prompts.length) {
      position.current = null;
      return draft.current;
    }
    return prompts[position.current] ?? null;
  }, []);

  const reset = useCallback(() => {
    position.current = null;
  }, []);

  return { add, older, newer, reset };
}
