import { useWorkspaceLog } from "../../api/queries.ts";
import type { Workspace } from "../../api/types.ts";

/** States in which the node is still working on the workspace: the log is followed. */
const PROVISIONING = new Set(["pending", "creating", "starting", "rebuilding"]);

/** The node's provisioning log (git's progress, a container's build), followed while the node
 * works. */
export function ProvisioningLog({ workspace }: { workspace: Workspace }) {
  const following = PROVISIONING.has(workspace.state);
  const log = useWorkspaceLog(workspace.id, following);
  const lines = log.data?.lines ?? [];
  if (!following && lines.length === 0) return null;
  return (
    <details className="provisioning-log" open={following || workspace.state === "error"}>
      <summary>Provisioning log{following && <span className="muted"> (following)</span>}</summary>
      <pre aria-live="polite" data-testid="provisioning-log" tabIndex={0}>
        {lines.length > 0
          ? lines.join("\n")
          : workspace.state === "pending"
            ? "Waiting for a node to take it…"
            : "Waiting for the node…"}
      </pre>
    </details>
  );
}
