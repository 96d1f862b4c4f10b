import { useId, useState, type FormEvent } from "react";
import { useNavigate } from "react-router";

import { isApiError } from "../../api/client.ts";
import type { GitHubRepository } from "../../api/types.ts";
import { useCreateProject } from "../../api/queries.ts";
import { ErrorMessage } from "../QueryStatus.tsx";
import { SubmitButton, TextField, fieldError } from "../form.tsx";
import { GitHubRepoPicker } from "./GitHubRepoPicker.tsx";
import {
  RUNTIME_LIMITS_FIELDS,
  RuntimeLimitsFields,
  parseRuntimeLimits,
  runtimeLimitsOf,
  setOnly,
} from "./RuntimeLimitsFields.tsx";

/** Git failing or not answering (502/503) is about the repository too. */
function repoError(error: unknown): string | null {
  const field = fieldError(error, "body.repo");
  if (field) return field;
  return isApiError(error) && (error.status === 502 || error.status === 503) ? error.message : null;
}

/** Name, repository and branch; the API checks the repository with git before answering. */
export function AddProjectForm() {
  const [name, setName] = useState("");
  const [repo, setRepo] = useState("");
  // Picked from GitHub: sent as `github` (owner/name), reached through the App's installation.
  const [picked, setPicked] = useState<GitHubRepository | null>(null);
  const fromGitHub = picked !== null && picked.clone_url === repo.trim();
  const [branch, setBranch] = useState("");
  const [limits, setLimits] = useState(() => runtimeLimitsOf(null));
  const parsed = parseRuntimeLimits(limits);
  const valid = Object.keys(parsed.problems).length === 0;
  const create = useCreateProject();
  const navigate = useNavigate();
  const headingId = useId();

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim() || !repo.trim() || !valid || create.isPending) return;
    create.mutate(
      {
        name: name.trim(),
        ...(fromGitHub ? { github: picked.full_name } : { repo: repo.trim() }),
        ...(branch.trim() ? { default_branch: branch.trim() } : {}),
        ...setOnly(parsed.body),
      },
      { onSuccess: (project) => void navigate(`/projects/${encodeURIComponent(project.name)}`) },
    );
  };

  const errors = {
    name: fieldError(create.error, "body.name"),
    repo: repoError(create.error) ?? fieldError(create.error, "body.github"),
    branch: fieldError(create.error, "body.default_branch"),
  };
  const placed =
    errors.name ||
    errors.repo ||
    errors.branch ||
    fieldError(create.error, ...RUNTIME_LIMITS_FIELDS);

  return (
    <form className="form panel" onSubmit={submit} aria-labelledby={headingId}>
      <h2 id={headingId}>Add project</h2>
      <div className="form-grid">
        <TextField
          label="Name"
          error={errors.name}
          hint="Lower-case letters, digits, '.', '_', '-'."
          value={name}
          required
          maxLength={64}
          spellCheck={false}
          autoComplete="off"
          readOnly={create.isPending}
          onChange={setName}
        />
        <GitHubRepoPicker
          value={repo}
          disabled={create.isPending}
          onPick={(picked) => {
            setPicked(picked);
            if (!picked) return;
            setRepo(picked.clone_url);
            setBranch(picked.default_branch);
            if (!name.trim()) setName(picked.full_name.split("/")[1]?.toLowerCase() ?? "");
          }}
        />
        <TextField
          label="Repository URL"
          error={errors.repo}
          hint="https://…, git@host:path or ssh://…. A private GitHub repository: connect GitHub (Settings) and pick it above."
          inputMode="url"
          value={repo}
          required
          maxLength={2048}
          spellCheck={false}
          autoComplete="off"
          placeholder="https://github.com/you/repo.git"
          readOnly={create.isPending}
          onChange={setRepo}
        />
        <TextField
          label="Branch"
          error={errors.branch}
          hint="Empty: the repository's default branch."
          value={branch}
          maxLength={255}
          spellCheck={false}
          autoComplete="off"
          readOnly={create.isPending}
          onChange={setBranch}
        />
      </div>
      <details className="fieldset">
        <summary>Runtime and limits</summary>
        <RuntimeLimitsFields
          values={limits}
          onChange={setLimits}
          error={create.error}
          readOnly={create.isPending}
        />
      </details>
      {create.isError && !placed && <ErrorMessage error={create.error} />}
      <div className="button-row">
        <SubmitButton
          pending={create.isPending}
          pendingLabel="Adding…"
          disabled={!name.trim() || !repo.trim() || !valid}
        >
          Add project
        </SubmitButton>
        <span role="status" className="muted">
          {create.isPending && "Checking repository…"}
        </span>
      </div>
    </form>
  );
}
