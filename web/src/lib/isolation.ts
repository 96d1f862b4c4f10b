// A node's sandbox in words, from its heartbeat's `capacity.isolation`: a short state for a
// table cell, and the detail (the same wording as `corral node show`; docs/security.md).

import type { NodeIsolation } from "../api/types.ts";

export interface IsolationSummary {
  /** "Sandboxed", "Sandbox, shared network" or "No sandbox". */
  state: string;
  /** How safe that is: a sandbox with its own network, one short of it, or none. */
  level: "ok" | "warn" | "none";
  /** The whole of it in one sentence. */
  detail: string;
  problems: string[];
}

const USERS: Record<string, string> = {
  workspace_uid: "a uid per workspace",
  user_namespace: "the node's user in a user namespace",
};

/** Null when the node has not said (it has not sent a heartbeat yet, or is older). */
export function isolationSummary(isolation: NodeIsolation | undefined): IsolationSummary | null {
  if (!isolation || typeof isolation !== "object") return null;
  const problems = Array.isArray(isolation.problems) ? isolation.problems.map(String) : [];
  if (isolation.sandbox !== "bwrap") {
    return {
      state: "No sandbox",
      level: "none",
      detail: "No sandbox: workspaces run as the node's user and see what it sees.",
      problems,
    };
  }
  const user = USERS[isolation.user] ?? "the node's user";
  const ownNetwork = isolation.network === "isolated";
  const network = ownNetwork ? "its own network (no host loopback)" : "the host's network";
  return {
    state: ownNetwork ? "Sandboxed" : "Sandbox, shared network",
    level: ownNetwork ? "ok" : "warn",
    detail: `Sandbox (bubblewrap), ${user}, ${network}, race-free file access.`,
    problems,
  };
}
