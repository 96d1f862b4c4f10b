import { useId, useState, type FormEvent } from "react";

import { useUpdateProject } from "../../api/queries.ts";
import type { Project } from "../../api/types.ts";
import { ErrorMessage } from "../QueryStatus.tsx";
import { SelectField, SubmitButton, TextField, fieldError } from "../form.tsx";

type Choice = "default" | "never" | "after";

function choiceOf(minutes: number | null): Choice {
  if (minutes === null) return "default";
  return minutes === 0 ? "never" : "after";
}

/** How long the project's workspaces may sit idle before they stop: the control plane's
 * default, never, or a number of minutes. */
export function ProjectIdleForm({ project, projectRef }: { project: Project; projectRef: string }) {
  const [choice, setChoice] = useState<Choice>(choiceOf(project.idle_timeout_minutes));
  const [minutes, setMinutes] = useState(
    project.idle_timeout_minutes ? String(project.idle_timeout_minutes) : "30",
  );
  const update = useUpdateProject(projectRef);
  const headingId = useId();

  const wanted = choice === "default" ? null : choice === "never" ? 0 : Number(minutes.trim());
  const changed = wanted !== project.idle_timeout_minutes;
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!changed || update.isPending) return;
    update.mutate({ idle_timeout_minutes: wanted });
  };
  const error = fieldError(update.error, "body.idle_timeout_minutes");

  return (
    <section aria-labelledby={headingId} className="panel">
      <h2 id={headingId}>When idle</h2>
      <form className="form" onSubmit={submit} aria-labelledby={headingId}>
        <p className="muted">
          A running workspace stops by itself once nobody has typed in it, watched it, or had an
          agent working in it for this long; its chats resume when it is started again.
        </p>
        <div className="form-grid">
          <SelectField<Choice> label="Stop its workspaces" value={choice} onChange={setChoice}>
            <option value="default">after the control plane's default</option>
            <option value="after">after a number of minutes</option>
            <option value="never">never (keep them running)</option>
          </SelectField>
          {choice === "after" && (
            <TextField
              label="Minutes idle"
              type="number"
              inputMode="numeric"
              min={1}
              max={43200}
              step={1}
              required
              error={error}
              value={minutes}
              onChange={setMinutes}
            />
          )}
        </div>
        {update.isError && !(choice === "after" && error) && <ErrorMessage error={update.error} />}
        <div className="button-row">
          <SubmitButton pending={update.isPending} pendingLabel="Saving…" disabled={!changed}>
            Save
          </SubmitButton>
          <span role="status" className="muted">
            {update.isSuccess && !changed && "Saved."}
          </span>
        </div>
      </form>
    </section>
  );
}
