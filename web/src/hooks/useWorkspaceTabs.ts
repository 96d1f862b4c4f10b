// Which terminal and chat tabs a workspace page has open, and which one is shown. Kept in
// localStorage per workspace, so a reload (or coming back tomorrow) restores them; tabs whose
// terminal or session no longer exists are dropped when the lists say so.

import { useCallback, useEffect, useState } from "react";

export type TabRef = `terminal:${string}` | `chat:${string}`;

interface TabState {
  open: TabRef[];
  active: TabRef | null;
}

const STORAGE_PREFIX = "corral.workspace-tabs.";

function load(workspaceId: string): TabState | null {
  try {
    const raw = localStorage.getItem(STORAGE_PREFIX + workspaceId);
    if (raw === null) return null;
    const parsed = JSON.parse(raw) as Partial<TabState>;
    const open = Array.isArray(parsed.open)
      ? parsed.open.filter(
          (t): t is TabRef =>
            typeof t === "string" && (t.startsWith("terminal:") || t.startsWith("chat:")),
        )
      : [];
    const active = open.includes(parsed.active as TabRef) ? (parsed.active as TabRef) : null;
    return { open, active };
  } catch {
    return null; // storage disabled or a value from another version: start afresh
  }
}

function save(workspaceId: string, state: TabState) {
  try {
    localStorage.setItem(STORAGE_PREFIX + workspaceId, JSON.stringify(state));
  } catch {
    // Private mode or a full quota: tabs are then not restored, nothing else breaks.
  }
}

/**
 * The open tabs. `existing` are the tabs that can be open (the workspace's terminals and chats),
 * or null while they load; the first time a workspace is opened, `initial` ones are.
 */
export function useWorkspaceTabs(
  workspaceId: string,
  existing: readonly TabRef[] | null,
  initial: readonly TabRef[],
) {
  const [state, setState] = useState<TabState | null>(() => load(workspaceId));

  useEffect(() => {
    if (existing === null) return;
    setState((current) => {
      const known = new Set(existing);
      const open =
        current === null
          ? initial.filter((t) => known.has(t))
          : current.open.filter((t) => known.has(t));
      const active = current?.active && open.includes(current.active) ? current.active : null;
      const next = { open, active: active ?? open[0] ?? null };
      if (
        current !== null &&
        next.active === current.active &&
        next.open.length === current.open.length
      ) {
        return current;
      }
      return next;
    });
    // `initial` only matters the first time, when it is read with `existing`.
  }, [existing]);

  useEffect(() => {
    if (state !== null) save(workspaceId, state);
  }, [workspaceId, state]);

  const show = useCallback((tab: TabRef) => {
    setState((current) => {
      const open = current?.open ?? [];
      return { open: open.includes(tab) ? open : [...open, tab], active: tab };
    });
  }, []);

  const close = useCallback((tab: TabRef) => {
    setState((current) => {
      if (current === null) return current;
      const index = current.open.indexOf(tab);
      const open = current.open.filter((t) => t !== tab);
      const active =
        current.active === tab ? (open[Math.min(index, open.length - 1)] ?? null) : current.active;
      return { open, active };
    });
  }, []);

  return { open: state?.open ?? [], active: state?.active ?? null, show, close };
}
