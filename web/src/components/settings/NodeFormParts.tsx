// What the forms that add a node share: the form (its name, the fields of its kind, the API's
// errors and the button), the pick of a provider and of your credential for it, and the join
// command a manual node is shown once.

import { useId, useState, type FormEvent, type ReactNode } from "react";

import { useCreateNode } from "../../api/nodes.ts";
import { useAllCredentials } from "../../api/queries.ts";
import type { NodeCreate, NodeCreated, Provider } from "../../api/types.ts";
import { usePick } from "../../hooks/usePick.ts";
import { ErrorMessage, QueryStatus } from "../QueryStatus.tsx";
import { SecretOnce, SelectField, SubmitButton, TextField, fieldError } from "../form.tsx";

/** The command that joins a machine as `created.node`, shown once. */
export function JoinCommand({ created, onDone }: { created: NodeCreated; onDone: () => void }) {
  const expiresAt = created.expires_at ?? "";
  return (
    <SecretOnce
      title={`Join ${created.node.name}`}
      value={created.join_command ?? ""}
      onDone={onDone}
    >
      <p>
        Run this on the new machine (with Corral installed). The token in it works once, until{" "}
        <time dateTime={expiresAt}>{new Date(expiresAt).toLocaleString()}</time>.
      </p>
    </SecretOnce>
  );
}

/** `POST /nodes`'s body but the name. */
export type NodeChoice = Omit<NodeCreate, "name">;

/**
 * The form that adds a node: its name, then the fields `children` renders with the API's error
 * (they show the ones for `fields`; the form, any other), `note` and the button. `body` is null
 * while those fields are incomplete. A manual node's join command takes the form's place until
 * Done; a provider's node is on its way, and the nodes table shows its progress.
 */
export function NodeForm({
  intro,
  body,
  fields,
  note,
  children,
}: {
  /** Above the fields: the choice of how the node is made. */
  intro?: ReactNode;
  body: NodeChoice | null;
  fields: readonly string[];
  note?: ReactNode;
  children: (error: unknown) => ReactNode;
}) {
  const create = useCreateNode();
  const [name, setName] = useState("");
  const headingId = useId();
  if (create.data?.join_command) {
    return <JoinCommand created={create.data} onDone={() => create.reset()} />;
  }

  const send = (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim() || !body || create.isPending) return;
    create.mutate({ ...body, name: name.trim() }, { onSuccess: () => setName("") });
  };

  const nameError = fieldError(create.error, "body.name");
  const shownByField = nameError !== null || fieldError(create.error, ...fields) !== null;
  return (
    <form className="form" onSubmit={send} aria-labelledby={headingId} autoComplete="off">
      <h3 id={headingId}>Add a node</h3>
      {intro}
      <div className="form-grid">
        <TextField
          label="Node name"
          error={nameError}
          hint="Lower-case letters, digits, '.', '_', '-'."
          value={name}
          required
          maxLength={64}
          spellCheck={false}
          autoComplete="off"
          onChange={setName}
        />
        {children(create.error)}
      </div>
      {note}
      {create.isError && !shownByField && <ErrorMessage error={create.error} />}
      <div className="button-row">
        <SubmitButton
          pending={create.isPending}
          pendingLabel="Adding…"
          disabled={!name.trim() || !body}
        >
          Add node
        </SubmitButton>
        <span role="status" className="muted">
          {create.data &&
            `${create.data.node.name} is on its way: the table above shows how it goes.`}
        </span>
      </div>
    </form>
  );
}

/** What a form for a node some providers make is given: those providers, at least one, and
 * the choice of how the node is made, shown above its fields. */
export interface ProviderFormProps {
  providers: readonly Provider[];
  intro: ReactNode;
}

/** The provider chosen among `providers` (the first until another is picked), and the choice
 * of your credential for it. */
export function useProviderChoice(providers: readonly Provider[]) {
  const [provider, pickProvider] = usePick(providers);
  const credential = useCredentialChoice(provider?.credential_kind ?? null);
  return { provider, pickProvider, credential };
}

/** A select of `providers` when there is more than one to choose from. */
export function ProviderSelect({
  providers,
  value,
  onChange,
}: {
  providers: readonly Provider[];
  value: string;
  onChange: (name: string) => void;
}) {
  if (providers.length < 2) return null;
  return (
    <SelectField label="Provider" value={value} onChange={onChange}>
      {providers.map((p) => (
        <option key={p.name} value={p.name}>
          {p.name}
        </option>
      ))}
    </SelectField>
  );
}

/**
 * Your credentials of `kind` (null: the provider needs none) and the one chosen; `ready` once
 * the provider has what it needs, and `name` is what to send.
 */
function useCredentialChoice(kind: string | null) {
  const query = useAllCredentials();
  const options = kind === null ? [] : (query.data ?? []).filter((c) => c.kind === kind);
  const [chosen, pick] = usePick(options);
  const name = chosen?.name ?? null;
  return { kind, query, options, name, pick, ready: kind === null || name !== null };
}

/** The select of your credentials a provider works with, or why there is none to pick. */
export function CredentialSelect({
  choice,
  error,
}: {
  choice: ReturnType<typeof useCredentialChoice>;
  error: unknown;
}) {
  const { kind, query, options } = choice;
  if (kind === null) return null;
  if (query.data === undefined) return <QueryStatus query={query} what="your credentials" />;
  if (options.length === 0) {
    return (
      <p className="warning">
        You have no {kind} credential: add one under <a href="#credentials">Credentials</a> first.
      </p>
    );
  }
  return (
    <SelectField
      label="Credential"
      hint={`Your ${kind} credential it works with.`}
      error={fieldError(error, "body.credential")}
      value={choice.name ?? ""}
      onChange={choice.pick}
    >
      {options.map((c) => (
        <option key={c.id} value={c.name}>
          {c.name}
        </option>
      ))}
    </SelectField>
  );
}
