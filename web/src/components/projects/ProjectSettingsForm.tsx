import { useId, useState, type FormEvent } from "react";

import { isApiError } from "../../api/client.ts";
import { useUpdateProject } from "../../api/queries.ts";
import type { Project, ProjectUpdate } from "../../api/types.ts";
import { ErrorMessage } from "../QueryStatus.tsx";
import { EnvEditor, envPatch, envRecord, envRows, type EnvRow } from "../settings/EnvEditor.tsx";
import { SubmitButton, TextField, fieldError } from "../form.tsx";
import {
  RUNTIME_LIMITS_FIELDS,
  RuntimeLimitsFields,
  changedRuntimeLimits,
  parseRuntimeLimits,
  runtimeLimitsOf,
} from "./RuntimeLimitsFields.tsx";

/** Name, default branch (checked with git), the environment variables every workspace gets, and
 * the runtime and limits new workspaces get. */
export function ProjectSettingsForm({
  project,
  projectRef,
  onRenamed,
}: {
  project: Project;
  /** The name or id the page was opened with (the query's key). */
  projectRef: string;
  onRenamed: (name: string) => void;
}) {
  const [name, setName] = useState(project.name);
  const [branch, setBranch] = useState(project.default_branch);
  const [env, setEnv] = useState<EnvRow[]>(() => envRows(project.env));
  const [limits, setLimits] = useState(() => runtimeLimitsOf(project));
  const update = useUpdateProject(projectRef);
  const headingId = useId();

  const body: ProjectUpdate = {};
  if (name.trim() && name.trim() !== project.name) body.name = name.trim();
  if (branch.trim() && branch.trim() !== project.default_branch) {
    body.default_branch = branch.trim();
  }
  const envChanges = envPatch(project.env, envRecord(env));
  if (envChanges) body.env = envChanges;
  const parsed = parseRuntimeLimits(limits);
  Object.assign(body, changedRuntimeLimits(parsed.body, project));
  const changed = Object.keys(body).length > 0;
  const valid = Object.keys(parsed.problems).length === 0;

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!changed || !valid || update.isPending) return;
    update.mutate(body, {
      onSuccess: (saved) => {
        if (saved.name !== project.name) onRenamed(saved.name);
      },
    });
  };

  const errors = {
    name: fieldError(update.error, "body.name"),
    branch:
      fieldError(update.error, "body.default_branch", "body.repo") ??
      (isApiError(update.error) && update.error.status >= 502 ? update.error.message : null),
    env: fieldError(update.error, "body.env"),
  };
  const placed =
    errors.name ||
    errors.branch ||
    errors.env ||
    fieldError(update.error, ...RUNTIME_LIMITS_FIELDS);

  return (
    <section aria-labelledby={headingId} className="panel">
      <h2 id={headingId}>Settings</h2>
      <form className="form" onSubmit={submit} aria-labelledby={headingId}>
        <div className="form-grid">
          <TextField
            label="Name"
            error={errors.name}
            value={name}
            required
            maxLength={64}
            spellCheck={false}
            autoComplete="off"
            onChange={setName}
          />
          <TextField
            label="Default branch"
            error={errors.branch}
            hint="New workspaces check it out; Corral checks the repository has it."
            value={branch}
            required
            maxLength={255}
            spellCheck={false}
            autoComplete="off"
            onChange={setBranch}
          />
        </div>
        <EnvEditor
          rows={env}
          onChange={setEnv}
          legend="Environment variables for every workspace"
          error={errors.env}
        />
        <p className="muted">
          These values are shown to anyone who opens this project; keep secrets in a credential of
          kind env.
        </p>
        <fieldset className="fieldset">
          <legend>Runtime and limits of new workspaces</legend>
          <RuntimeLimitsFields values={limits} onChange={setLimits} error={update.error} />
          <p className="muted">Workspaces made before keep the runtime and limits they have.</p>
        </fieldset>
        {update.isError && !placed && <ErrorMessage error={update.error} />}
        <div className="button-row">
          <SubmitButton
            pending={update.isPending}
            pendingLabel="Saving…"
            disabled={!changed || !valid}
          >
            Save project
          </SubmitButton>
          <span role="status" className="muted">
            {update.isPending && body.default_branch && "Checking the branch…"}
            {update.isSuccess && !changed && "Saved."}
          </span>
        </div>
      </form>
    </section>
  );
}
