import { useNavigate } from "react-router";

import { useWorkspaceAction } from "../../api/queries.ts";
import type { Workspace } from "../../api/types.ts";
import { ConfirmButton } from "../form.tsx";
import { ErrorMessage } from "../QueryStatus.tsx";

/** Start, stop (asked first) and delete (asked first) a workspace. */
export function WorkspaceActions({ workspace }: { workspace: Workspace }) {
  const action = useWorkspaceAction(workspace.id);
  const navigate = useNavigate();
  const busy = action.isPending;
  const canStop = workspace.state === "running";
  const canStart = workspace.state === "stopped" || workspace.state === "error";
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
