import { useId, useState, type FormEvent } from "react";

import { useAgentSettings, useCredentials, useUpdateAgentSettings } from "../../api/queries.ts";
import {
  POLICIES,
  type Agent,
  type AgentSettings,
  type AgentSettingsField,
  type AgentSettingsUpdate,
  type Credential,
  type Policy,
} from "../../api/types.ts";
import { ErrorMessage, QueryStatus } from "../QueryStatus.tsx";
import { EnvEditor, envRecord, envRows, type EnvRow } from "./EnvEditor.tsx";
import { Field, SelectField, SubmitButton, TextField, fieldError } from "../form.tsx";

const POLICY_HINT =
  "What runs without asking you: ask (nothing), allow-reads (reading and searching), " +
  "allow-edits (editing files too), allow-all (everything, commands too).";

interface Draft {
  credential: string;
  model: string;
  policy: Policy;
  endpoint: string;
  env: EnvRow[];
  args: string;
}

function draftOf(settings: AgentSettings): Draft {
  return {
    credential: settings.credential ?? "",
    model: settings.model ?? "",
    policy: settings.policy,
    endpoint: settings.endpoint ?? "",
    env: envRows(settings.env),
    args: settings.args.join("\n"),
  };
}

function argsOf(text: string): string[] {
  return text.split("\n").filter((line) => line.trim() !== "");
}

/** The PATCH that turns `before` into `draft`; null when nothing changed. */
function settingsUpdate(before: AgentSettings, draft: Draft): AgentSettingsUpdate | null {
  const body: AgentSettingsUpdate = {};
  const clear: AgentSettingsField[] = [];
  const text = (field: "credential" | "model" | "endpoint", value: string) => {
    const next = value.trim();
    if (next === (before[field] ?? "")) return;
    if (next) body[field] = next;
    else clear.push(field);
  };
  text("credential", draft.credential);
  text("model", draft.model);
  text("endpoint", draft.endpoint);
  if (draft.policy !== before.policy) body.policy = draft.policy;
  const env = envRecord(draft.env);
  const set = Object.entries(env).filter(([k, v]) => before.env[k] !== v);
  if (set.length > 0) body.env = Object.fromEntries(set);
  const unset = Object.keys(before.env).filter((k) => !(k in env));
  if (unset.length > 0) body.unset_env = unset;
  const args = argsOf(draft.args);
  if (args.join("\n") !== before.args.join("\n")) {
    if (args.length > 0) body.args = args;
    else clear.push("args");
  }
  if (clear.length > 0) body.clear = clear;
  return Object.keys(body).length > 0 ? body : null;
}

function credentialChoices(agent: Agent, all: readonly Credential[], current: string) {
  const fits = all.filter((c) => c.kind === "env" || agent.credential_kinds.includes(c.kind));
  const names = fits.map((c) => ({
    name: c.name,
    text: `${c.name} (${c.kind}${c.last4 ? `, …${c.last4}` : ""})`,
  }));
  if (current && !names.some((n) => n.name === current)) {
    names.push({ name: current, text: current });
  }
  return names;
}

function Editor({
  agent,
  project,
  settings,
  update,
  save,
}: {
  agent: Agent;
  project: string | null;
  settings: AgentSettings;
  update: ReturnType<typeof useUpdateAgentSettings>;
  save: (body: AgentSettingsUpdate) => void;
}) {
  const [draft, setDraft] = useState<Draft>(() => draftOf(settings));
  const credentials = useCredentials();
  const id = useId();
  const body = settingsUpdate(settings, draft);
  const set = (patch: Partial<Draft>) => {
    setDraft((d) => ({ ...d, ...patch }));
    if (!update.isPending && !update.isIdle) update.reset();
  };

  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (body && !update.isPending) save(body);
  };

  const errors = {
    credential: fieldError(update.error, "body.credential"),
    model: fieldError(update.error, "body.model"),
    policy: fieldError(update.error, "body.policy"),
    endpoint: fieldError(update.error, "body.endpoint"),
    env: fieldError(update.error, "body.env", "body.unset_env"),
    args: fieldError(update.error, "body.args"),
  };
  const placed = Object.values(errors).some(Boolean);
  const choices = credentialChoices(agent, credentials.data ?? [], draft.credential);
  const kinds = agent.credential_kinds.length ? agent.credential_kinds.join(" or ") : "none";

  return (
    <form className="form" onSubmit={submit} aria-labelledby={`${id}-heading`}>
      <h3 id={`${id}-heading`}>
        {project ? `${agent.title} in this project` : `Your settings for ${agent.title}`}
      </h3>
      {project && (
        <p className="muted">
          Shown with your own settings filled in. Changes apply to this project only; a field
          cleared here falls back to your own setting.
        </p>
      )}
      <div className="form-grid">
        <SelectField
          label="Credential"
          error={errors.credential}
          hint={`Kinds ${agent.name} takes: ${kinds}; an env credential fits any agent.`}
          value={draft.credential}
          onChange={(credential) => set({ credential })}
        >
          <option value="">None</option>
          {choices.map((c) => (
            <option key={c.name} value={c.name}>
              {c.text}
            </option>
          ))}
        </SelectField>
        <TextField
          label="Model"
          error={errors.model}
          hint="Empty: the agent's default."
          value={draft.model}
          maxLength={200}
          spellCheck={false}
          onChange={(model) => set({ model })}
        />
        <SelectField
          label="Permission policy"
          error={errors.policy}
          hint={POLICY_HINT}
          value={draft.policy}
          onChange={(policy) => set({ policy })}
        >
          {POLICIES.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </SelectField>
        {(agent.endpoint || settings.endpoint) && (
          <TextField
            label="Endpoint"
            error={errors.endpoint}
            hint="The model API's base URL (a gateway or proxy); empty for the default."
            type="url"
            value={draft.endpoint}
            placeholder="https://"
            spellCheck={false}
            onChange={(endpoint) => set({ endpoint })}
          />
        )}
      </div>
      <EnvEditor rows={draft.env} onChange={(env) => set({ env })} error={errors.env} />
      <Field label="Extra arguments" error={errors.args} hint="One argument per line.">
        {(props) => (
          <textarea
            {...props}
            rows={2}
            value={draft.args}
            spellCheck={false}
            onChange={(e) => set({ args: e.target.value })}
          />
        )}
      </Field>
      {update.isError && !placed && <ErrorMessage error={update.error} />}
      <div className="button-row">
        <SubmitButton pending={update.isPending} pendingLabel="Saving…" disabled={!body}>
          Save settings
        </SubmitButton>
        <button
          type="button"
          disabled={!body || update.isPending}
          onClick={() => setDraft(draftOf(settings))}
        >
          Undo changes
        </button>
        <span role="status" className="muted">
          {update.isSuccess && !body ? "Saved." : ""}
        </span>
      </div>
    </form>
  );
}

/** An agent's settings, yours or (with `project`, a name or id) a project's, to edit. */
export function AgentSettingsForm({
  agent,
  project = null,
}: {
  agent: Agent;
  project?: string | null;
}) {
  const settings = useAgentSettings(agent.name, project);
  const [saves, setSaves] = useState(0);
  const update = useUpdateAgentSettings(agent.name, project);
  const save = (body: AgentSettingsUpdate) =>
    update.mutate(body, { onSuccess: () => setSaves((n) => n + 1) });
  return (
    <div className="agent-settings">
      <QueryStatus query={settings} what="settings" />
      {settings.data && (
        // A save, or a new answer from the server, starts the form again from what it says.
        <Editor
          key={`${saves} ${JSON.stringify(settings.data)}`}
          agent={agent}
          project={project}
          settings={settings.data}
          update={update}
          save={save}
        />
      )}
    </div>
  );
}
