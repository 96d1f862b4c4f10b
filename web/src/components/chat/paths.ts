// Paths in a transcript, shown relative to the session's working directory (the workspace's
// checkout, which the agent names in full in every tool call).

import { createContext, useCallback, useContext } from "react";

const CwdContext = createContext<string | null>(null);

/** Provides the session's working directory to the transcript below it. */
export const CwdProvider = CwdContext.Provider;

/** `path` without the working directory in front (the full path stays for a tooltip). */
export function relativePath(path: string, cwd: string | null): string {
  if (!cwd) return path;
  const root = cwd.endsWith("/") ? cwd : `${cwd}/`;
  if (path === cwd) return ".";
  return path.startsWith(root) ? path.slice(root.length) : path;
}

export function useDisplayPath(): (path: string) => string {
  const cwd = useContext(CwdContext);
  return useCallback((path: string) => relativePath(path, cwd), [cwd]);
}
