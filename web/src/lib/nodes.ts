// What kind of machine a node is on, read from the node: one a cloud provider made, a server of
// the user's that a provider installed it onto over SSH, or one joined by hand.

import type { Node } from "../api/types.ts";

export type MachineKind = "cloud" | "machine" | "manual";

/** `root@example.com`, with `:2222` when the port is not 22: the server an SSH node is on; null
 * for any other node. */
export function sshTarget(node: Node): string | null {
  const { host, port, user } = node.options;
  if (typeof host !== "string") return null;
  const at = typeof user === "string" && user ? `${user}@${host}` : host;
  return typeof port === "number" && port !== 22 ? `${at}:${port}` : at;
}

/** Cloud nodes have a size, and SSH nodes a server; the rest (manual, local) neither. */
export function machineKind(node: Node): MachineKind {
  if (sshTarget(node) !== null) return "machine";
  return node.machine_type !== null ? "cloud" : "manual";
}
