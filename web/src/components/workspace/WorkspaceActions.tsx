import { useNavigate } from "react-router";

import { useWorkspaceAction } from "../../api/queries.ts";
import type { Workspace } from "../../api/types.ts";
import { ConfirmButton } from "../form.tsx";
import { ErrorMessage } from "../QueryStatus.tsx";

/** States a workspace can be rebuilt from. */
const REBUILDABLE = new Set(["running", "stopped", "error"]);

/** Whether the workspace failed building its container (so the default image may help). */
export function buildFailed(workspace: Workspace): boolean {
  return workspace.state === "error" && /\bbuil(d|t)/i.test(workspace.state_reason ?? "");
}

/** Start, stop (asked first), rebuild (asked first; with the default image after a failed
 * build) and delete (asked first) a workspace. The host runtime has no container to rebuild. */
export function WorkspaceActions({ workspace }: { workspace: Workspace }) {
  const action = useWorkspaceAction(workspace.id);
  const navigate = useNavigate();
  const busy = action.isPending;
  const canStop = workspace.state === "running";
  const canStart = workspace.state === "stopped" || workspace.state === "error";
  const canRebuild = REBUILDABLE.has(workspace.state) && workspace.runtime !== "host";
  return (
    <div className="workspace-actions">
      <div className="button-row">
        {canStart && (
          <button
            type="button"
            className="button-primary"
            disabled={busy}
            onClick={() => action.mutate("start")}
          >
            {busy && action.variables === "start" ? "Starting…" : "Start"}
          </button>
        )}
        {canStop && (
          <ConfirmButton
            question="Stop the workspace? Its terminals and agents end; files and chats stay."
            confirmLabel="Stop workspace"
            pending={busy}
            onConfirm={() => action.mutate("stop")}
          >
            Stop
          </ConfirmButton>
        )}
        {canRebuild && (
          <ConfirmButton
            question="Rebuild the container from the repository's devcontainer configuration? Its terminals and agents end; the checkout stays."
            confirmLabel="Rebuild workspace"
            pending={busy}
            onConfirm={() => action.mutate("rebuild")}
          >
            Rebuild
          </ConfirmButton>
        )}
        {canRebuild && buildFailed(workspace) && (
          <ConfirmButton
            question="Rebuild with the node's default image, ignoring the repository's devcontainer configuration? The checkout stays."
            confirmLabel="Rebuild with the default image"
            pending={busy}
            onConfirm={() => action.mutate("rebuild-default")}
          >
            Rebuild with the default image
          </ConfirmButton>
        )}
        <ConfirmButton
          question={`Delete ${workspace.name} and its checkout? Chats stay in the project.`}
          confirmLabel="Delete workspace"
          label={`Delete ${workspace.name}`}
          pending={busy}
          onConfirm={() =>
            action.mutate("delete", {
              onSuccess: () =>
                void navigate(workspace.project_id ? `/projects/${workspace.project_id}` : "/"),
            })
          }
        >
          Delete
        </ConfirmButton>
      </div>
      {action.isError && <ErrorMessage error={action.error} />}
    </div>
  );
}
