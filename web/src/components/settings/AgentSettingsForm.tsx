import { useId, useState, type FormEvent } from "react";

import { useAgentSettings, useAllCredentials, useUpdateAgentSettings } from "../../api/queries.ts";
import {
  POLICIES,
  type Agent,
  type AgentSettings,
  type AgentSettingsField,
  type AgentSettingsLayer,
  type AgentSettingsUpdate,
  type Credential,
  type Policy,
} from "../../api/types.ts";
import { ErrorMessage, QueryStatus } from "../QueryStatus.tsx";
import { EnvEditor, envPatch, envRecord, envRows, type EnvRow } from "./EnvEditor.tsx";
import { Field, SelectField, SubmitButton, TextField, fieldError } from "../form.tsx";

const POLICY_HINT =
  "What runs without asking you: ask (nothing), allow-reads (reading and searching), " +
  "allow-edits (editing files too), allow-all (everything, commands too).";

/** The layer's own values, as the inputs hold them: "" where the layer sets nothing. */
interface Draft {
  credential: string;
  model: string;
  policy: Policy | "";
  endpoint: string;
  env: EnvRow[];
  args: string;
}

function draftOf(own: AgentSettingsLayer): Draft {
  return {
    credential: own.credential ?? "",
    model: own.model ?? "",
    policy: own.policy ?? "",
    endpoint: own.endpoint ?? "",
    env: envRows(own.env),
    args: (own.args ?? []).join("\n"),
  };
}

function argsOf(text: string): string[] {
  return text.split("\n").filter((line) => line.trim() !== "");
}

/** The PATCH that turns the layer's `own` settings into `draft`; null when nothing changed. */
function settingsUpdate(own: AgentSettingsLayer, draft: Draft): AgentSettingsUpdate | null {
  const body: AgentSettingsUpdate = {};
  const clear: AgentSettingsField[] = [];
  const text = (field: "credential" | "model" | "endpoint", value: string) => {
    const next = value.trim();
    if (next === (own[field] ?? "")) return;
    if (next) body[field] = next;
    else clear.push(field);
  };
  text("credential", draft.credential);
  text("model", draft.model);
  if (draft.policy !== (own.policy ?? "")) {
    if (draft.policy) body.policy = draft.policy;
    else clear.push("policy");
  }
  text("endpoint", draft.endpoint);
  const env = envPatch(own.env, envRecord(draft.env));
  if (env) body.env = env;
  const args = argsOf(draft.args);
  if (args.join("\n") !== (own.args ?? []).join("\n")) {
    if (args.length > 0) body.args = args;
    else clear.push("args");
  }
  if (clear.length > 0) body.clear = clear;
  return Object.keys(body).length > 0 ? body : null;
}

/** A value the layer below gives, and where it comes from ("your settings", "default") if known. */
interface Inherited<T> {
  value: T;
  from: string | null;
}

/** What the edited layer inherits, field by field; null where that is not known. */
interface Below {
  credential: Inherited<string | null> | null;
  model: Inherited<string | null> | null;
  policy: Inherited<Policy> | null;
  endpoint: Inherited<string | null> | null;
  env: Record<string, Inherited<string>>;
  args: Inherited<string[]> | null;
}

/**
 * What `settings` (a project's with `project`, else yours) inherits. `yours`, your own settings
 * when editing a project's, tells it all, and where each comes from; without it only the fields
 * the layer leaves unset are known: their merged value is the inherited one.
 */
function belowOf(settings: AgentSettings, project: boolean, yours?: AgentSettings): Below {
  if (project && yours) {
    const from = (set: boolean) => (set ? "your settings" : "default");
    const mine = yours.own;
    return {
      credential: { value: yours.credential, from: from(mine.credential !== null) },
      model: { value: yours.model, from: from(mine.model !== null) },
      policy: { value: yours.policy, from: from(mine.policy !== null) },
      endpoint: { value: yours.endpoint, from: from(mine.endpoint !== null) },
      env: Object.fromEntries(
        Object.entries(yours.env).map(([k, value]) => [k, { value, from: from(k in mine.env) }]),
      ),
      args: { value: yours.args, from: from(mine.args !== null) },
    };
  }
  const from = project ? null : "default";
  const own = settings.own;
  const known = <T,>(set: boolean, value: T): Inherited<T> | null => (set ? null : { value, from });
  return {
    credential: known(own.credential !== null, settings.credential),
    model: known(own.model !== null, settings.model),
    policy: known(own.policy !== null, settings.policy),
    endpoint: known(own.endpoint !== null, settings.endpoint),
    env: Object.fromEntries(
      Object.entries(settings.env)
        .filter(([k]) => !(k in own.env))
        .map(([k, value]) => [k, { value, from }]),
    ),
    args: known(own.args !== null, settings.args),
  };
}

/** `inherited` in words: "opus (your settings)"; `none` for an empty value. */
function describe(
  inherited: Inherited<string | null> | null,
  none: string,
  project: boolean,
): string | null {
  if (!inherited) return null;
  if (!inherited.value) return none;
  return project && inherited.from ? `${inherited.value} (${inherited.from})` : inherited.value;
}

/** The hint under a field: what it inherits, or that emptying it inherits that. */
function inheritHint(project: boolean, set: boolean, what: string | null): string {
  if (project) {
    if (!set) return `Inherited: ${what ?? "unknown"}.`;
    return what ? `Empty to inherit ${what}.` : "Empty to inherit.";
  }
  if (!set) return `Default: ${what ?? "unknown"}.`;
  return what ? `Empty for the default: ${what}.` : "Empty for the default.";
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

function InheritedEnv({
  below,
  own,
  project,
}: {
  below: Below["env"];
  own: Record<string, string>;
  project: boolean;
}) {
  const id = useId();
  const names = Object.keys(below).sort((a, b) => a.localeCompare(b));
  if (names.length === 0) return null;
  return (
    <div className="env-inherited">
      <p id={`${id}-heading`} className="env-inherited-heading">
        {project ? "Inherited variables" : "Default variables"}
      </p>
      <ul aria-labelledby={`${id}-heading`}>
        {names.map((name) => {
          const { value, from } = below[name]!;
          const notes = [project ? from : null, name in own ? "overridden here" : null];
          const note = notes.filter(Boolean).join(", ");
          return (
            <li key={name}>
              <code className="break">
                {name}={value}
              </code>
              {note && <span className="muted"> {note}</span>}
            </li>
          );
        })}
      </ul>
      {project && (
        <p className="muted">
          A project cannot remove a variable set in your own settings, only override its value.
        </p>
      )}
    </div>
  );
}

function Editor({
  agent,
  project,
  settings,
  below,
  update,
  save,
}: {
  agent: Agent;
  project: string | null;
  settings: AgentSettings;
  below: Below;
  update: ReturnType<typeof useUpdateAgentSettings>;
  save: (body: AgentSettingsUpdate) => void;
}) {
  const [draft, setDraft] = useState<Draft>(() => draftOf(settings.own));
  const credentials = useAllCredentials();
  const id = useId();
  const body = settingsUpdate(settings.own, draft);
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
    env: fieldError(update.error, "body.env"),
    args: fieldError(update.error, "body.args"),
  };
  const placed = Object.values(errors).some(Boolean);
  const choices = credentialChoices(agent, credentials.data ?? [], draft.credential);
  const kinds = agent.credential_kinds.length ? agent.credential_kinds.join(" or ") : "none";
  const inProject = project !== null;
  const hint = (set: string, what: string | null) => inheritHint(inProject, set !== "", what);

  const credential = describe(below.credential, "none", inProject);
  const model = describe(below.model, "the agent's default", inProject);
  const policy = describe(below.policy, "", inProject);
  const endpoint = describe(below.endpoint, "the agent's default", inProject);
  const args = below.args && {
    value: below.args.value.join(" "),
    from: below.args.from,
  };
  const inheritedArgs = describe(args, "none", inProject);
  // Set to no arguments (over the layer below) rather than left unset; only the API does that.
  const noArgs = settings.own.args?.length === 0 && argsOf(draft.args).length === 0;
  const inherit = inProject ? "inherit" : "default";
  const policies =
    draft.policy && !POLICIES.includes(draft.policy) ? [...POLICIES, draft.policy] : POLICIES;

  return (
    <form className="form" onSubmit={submit} aria-labelledby={`${id}-heading`}>
      <h3 id={`${id}-heading`}>
        {project ? `${agent.title} in this project` : `Your settings for ${agent.title}`}
      </h3>
      <p className="muted">
        {project
          ? "What this project sets itself; a field left empty inherits your own settings " +
            "(shown as its hint). Changes apply to this project only."
          : "A field left empty uses the default; a project can override any of these."}
      </p>
      <div className="form-grid">
        <SelectField
          label="Credential"
          error={errors.credential}
          hint={
            `Kinds ${agent.name} takes: ${kinds}; an env credential fits any agent.` +
            (inProject ? ` ${hint(draft.credential, credential)}` : "")
          }
          value={draft.credential}
          onChange={(credential) => set({ credential })}
        >
          <option value="">
            {!inProject
              ? "None"
              : below.credential
                ? `inherit (${below.credential.value ?? "none"})`
                : "inherit"}
          </option>
          {choices.map((c) => (
            <option key={c.name} value={c.name}>
              {c.text}
            </option>
          ))}
        </SelectField>
        <TextField
          label="Model"
          error={errors.model}
          hint={hint(draft.model, model)}
          value={draft.model}
          placeholder={below.model?.value ?? ""}
          maxLength={200}
          spellCheck={false}
          onChange={(model) => set({ model })}
        />
        <SelectField
          label="Permission policy"
          error={errors.policy}
          hint={`${POLICY_HINT} ${hint(draft.policy, policy)}`}
          value={draft.policy}
          onChange={(policy) => set({ policy })}
        >
          <option value="">{below.policy ? `${inherit} (${below.policy.value})` : inherit}</option>
          {policies.map((p) => (
            <option key={p} value={p}>
              {p}
            </option>
          ))}
        </SelectField>
        {(agent.endpoint || settings.endpoint || below.endpoint?.value) && (
          <TextField
            label="Endpoint"
            error={errors.endpoint}
            hint={`The model API's base URL (a gateway or proxy). ${hint(draft.endpoint, endpoint)}`}
            type="url"
            value={draft.endpoint}
            placeholder={below.endpoint?.value || "https://"}
            spellCheck={false}
            onChange={(endpoint) => set({ endpoint })}
          />
        )}
      </div>
      <EnvEditor
        rows={draft.env}
        onChange={(env) => set({ env })}
        empty={inProject ? "None set in this project." : "None."}
        error={errors.env}
      >
        <InheritedEnv below={below.env} own={envRecord(draft.env)} project={inProject} />
      </EnvEditor>
      <Field
        label="Extra arguments"
        error={errors.args}
        hint={
          "One argument per line. " +
          (noArgs
            ? `Set to none here, over ${inheritedArgs ?? "what is inherited"}.`
            : hint(argsOf(draft.args).join(" "), inheritedArgs))
        }
      >
        {(props) => (
          <textarea
            {...props}
            rows={2}
            value={draft.args}
            placeholder={below.args?.value.join("\n") ?? ""}
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
          onClick={() => setDraft(draftOf(settings.own))}
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

type EditorProps = Omit<Parameters<typeof Editor>[0], "below">;

/** A project's editor: with your own settings too, to tell what the project inherits. */
function ProjectEditor(props: EditorProps) {
  const yours = useAgentSettings(props.agent.name, null);
  return <Editor {...props} below={belowOf(props.settings, true, yours.data)} />;
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
  // A save, or a new answer from the server, starts the form again from what it says.
  const key = `${saves} ${JSON.stringify(settings.data)}`;
  return (
    <div className="agent-settings">
      <QueryStatus query={settings} what="settings" />
      {settings.data &&
        (project !== null ? (
          <ProjectEditor
            key={key}
            agent={agent}
            project={project}
            settings={settings.data}
            update={update}
            save={save}
          />
        ) : (
          <Editor
            key={key}
            agent={agent}
            project={project}
            settings={settings.data}
            below={belowOf(settings.data, false)}
            update={update}
            save={save}
          />
        ))}
    </div>
  );
}
