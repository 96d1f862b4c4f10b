import { useId, useState, type FormEvent } from "react";
import { useNavigate } from "react-router";

import { useNodes } from "../../api/nodes.ts";
import { useCreateWorkspace, useProjectWorkspaces } from "../../api/queries.ts";
import type { Project } from "../../api/types.ts";
import { ErrorMessage } from "../QueryStatus.tsx";
import { WorkspaceTable, workspacePath } from "../WorkspaceTable.tsx";
import { SelectField, SubmitButton, TextField, fieldError } from "../form.tsx";
import { useRuntimeNames } from "./RuntimeLimitsFields.tsx";

function NewWorkspaceForm({ project }: { project: Project }) {
  const [branch, setBranch] = useState("");
  const [node, setNode] = useState("");
  const [runtime, setRuntime] = useState("");
  const nodes = useNodes();
  const runtimes = useRuntimeNames();
  const create = useCreateWorkspace();
  const navigate = useNavigate();
  const id = useId();
  const ready = nodes.data?.filter((n) => n.state === "ready") ?? [];

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (create.isPending) return;
    create.mutate(
      {
        project: project.id,
        ...(branch.trim() ? { branch: branch.trim() } : {}),
        ...(node ? { node } : {}),
        ...(runtime ? { runtime } : {}),
      },
      { onSuccess: (workspace) => void navigate(workspacePath(workspace.id)) },
    );
  };

  const errors = {
    branch: fieldError(create.error, "body.branch"),
    node: fieldError(create.error, "body.node"),
    runtime: fieldError(create.error, "body.runtime"),
  };
  return (
    <form className="form" onSubmit={submit} aria-labelledby={`${id}-heading`}>
      <h3 id={`${id}-heading`} className="visually-hidden">
        New workspace
      </h3>
      <div className="form-grid">
        <TextField
          label="Branch"
          error={errors.branch}
          hint={`Empty: ${project.default_branch}.`}
          value={branch}
          maxLength={255}
          spellCheck={false}
          autoComplete="off"
          placeholder={project.default_branch}
          onChange={setBranch}
        />
        <SelectField label="Node" error={errors.node} value={node} onChange={setNode}>
          <option value="">Any ready node with room</option>
          {ready.map((n) => (
            <option key={n.id} value={n.id}>
              {n.name}
            </option>
          ))}
        </SelectField>
        <SelectField
          label="Runtime"
          error={errors.runtime}
          hint="Auto: a devcontainer where the node has Docker, else the host."
          value={runtime}
          onChange={setRuntime}
        >
          <option value="">{`The project's (${project.runtime})`}</option>
          {project.runtime !== "auto" && <option value="auto">Auto</option>}
          {runtimes
            .filter((name) => name !== project.runtime)
            .map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
        </SelectField>
      </div>
      {create.isError && !errors.branch && !errors.node && !errors.runtime && (
        <ErrorMessage error={create.error} />
      )}
      <SubmitButton pending={create.isPending} pendingLabel="Creating…">
        New workspace
      </SubmitButton>
    </form>
  );
}

/** The project's workspaces, each linking to its page, and New workspace. */
export function ProjectWorkspaces({ project }: { project: Project }) {
  const workspaces = useProjectWorkspaces(project.id);
  return (
    <section aria-labelledby="project-workspaces-heading" className="panel">
      <h2 id="project-workspaces-heading">Workspaces</h2>
      <WorkspaceTable workspaces={workspaces} detailed />
      <NewWorkspaceForm project={project} />
    </section>
  );
}
