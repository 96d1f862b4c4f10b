// UI state of transcript rows (a diff's view, an expanded block) that outlives the row: the
// virtualised list unmounts rows scrolled out of view and mounts them again on the way back.

import { createContext, useCallback, useContext, useState } from "react";

const RowStateContext = createContext<Map<string, unknown> | null>(null);

/** Provides the store; the transcript keeps one per session view. */
export const RowStateProvider = RowStateContext.Provider;

/**
 * `useState` whose value is also kept under `key` in the nearest `RowStateProvider`, and read
 * back from there when the component mounts again. Without a provider or a key, plain state.
 */
export function useRowState<T>(
  key: string | null | undefined,
  initial: T,
): [T, (value: T) => void] {
  const store = useContext(RowStateContext);
  const [value, setValue] = useState<T>(() =>
    store && key && store.has(key) ? (store.get(key) as T) : initial,
  );
  const set = useCallback(
    (next: T) => {
      if (store && key) store.set(key, next);
      setValue(next);
    },
    [store, key],
  );
  return [value, set];
}
