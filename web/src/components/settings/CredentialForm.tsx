import { useId, useRef, useState, type FormEvent } from "react";

import { useSetCredential } from "../../api/queries.ts";
import { CREDENTIAL_KINDS, type Credential, type CredentialKind } from "../../api/types.ts";
import { ErrorMessage } from "../QueryStatus.tsx";
import { Field, SelectField, SubmitButton, TextField, fieldError } from "../form.tsx";

const KIND_HINTS: Partial<Record<CredentialKind, string>> = {
  env: "Named after the environment variable it sets (letters, digits, '_'); fits any agent.",
  "ssh-key":
    "A private key file in OpenSSH or PEM format: SSH nodes are installed onto your server with it.",
  github: "A GitHub token, kept for the GitHub integration to come: nothing uses it yet.",
  hetzner: "A Hetzner Cloud API token (read and write): Hetzner nodes are made with it.",
};

/**
 * Add a credential, or replace the value of `replacing`. The value is typed into a password
 * field (or read from a key file), sent once, and forgotten; it is never shown or filled in.
 */
export function CredentialForm({
  replacing,
  existingNames = [],
  onDone,
}: {
  replacing?: Credential;
  existingNames?: readonly string[];
  onDone?: () => void;
}) {
  const [name, setName] = useState(replacing?.name ?? "");
  const [kind, setKind] = useState<CredentialKind>(replacing?.kind ?? "anthropic");
  const [value, setValue] = useState("");
  const [fileName, setFileName] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const save = useSetCredential();
  const headingId = useId();
  const keyFile = useRef<HTMLInputElement>(null);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const target = name.trim();
    if (!target || !value || save.isPending) return;
    save.mutate(
      { name: target, kind, value },
      {
        onSuccess: (credential) => {
          setValue("");
          setFileName(null);
          if (keyFile.current) keyFile.current.value = "";
          save.reset();
          if (replacing) {
            onDone?.();
          } else {
            setName("");
            setSaved(credential.name);
          }
        },
      },
    );
  };

  const readKeyFile = async (file: File | undefined) => {
    setValue(file ? await file.text() : "");
    setFileName(file?.name ?? null);
  };

  const nameError = fieldError(save.error, "path.name");
  const kindError = fieldError(save.error, "body.kind");
  const valueError = fieldError(save.error, "body.value");
  const otherError = save.error && !nameError && !kindError && !valueError ? save.error : null;
  const replacesExisting = !replacing && existingNames.includes(name.trim());

  return (
    <form className="form" onSubmit={submit} aria-labelledby={headingId} autoComplete="off">
      <h3 id={headingId}>{replacing ? `Replace ${replacing.name}` : "Add a credential"}</h3>
      <div className="form-grid">
        {!replacing && (
          <TextField
            label="Name"
            error={nameError}
            hint={
              replacesExisting
                ? `A credential named ${name.trim()} exists; saving replaces its value.`
                : "Letters, digits, '.', '_', '-'."
            }
            value={name}
            required
            maxLength={100}
            // It goes in the URL: letters, digits, '.', '_', '-' (as the API checks).
            pattern="[A-Za-z0-9][A-Za-z0-9._\-]*"
            autoComplete="off"
            spellCheck={false}
            onChange={(next) => {
              setName(next);
              setSaved(null);
            }}
          />
        )}
        <SelectField
          label="Kind"
          error={kindError}
          hint={KIND_HINTS[kind]}
          value={kind}
          onChange={(next) => {
            setKind(next);
            setValue("");
            setFileName(null);
          }}
        >
          {CREDENTIAL_KINDS.map((k) => (
            <option key={k} value={k}>
              {k}
            </option>
          ))}
        </SelectField>
        {kind === "ssh-key" ? (
          <Field label="Private key file" error={valueError}>
            {(props) => (
              <input
                {...props}
                ref={keyFile}
                type="file"
                required
                onChange={(e) => void readKeyFile(e.target.files?.[0])}
              />
            )}
          </Field>
        ) : (
          <TextField
            label={replacing ? "New value" : "Value"}
            error={valueError}
            type="password"
            value={value}
            required
            autoComplete="off"
            spellCheck={false}
            onChange={(next) => {
              setValue(next);
              setSaved(null);
            }}
          />
        )}
      </div>
      {otherError && <ErrorMessage error={otherError} />}
      <div className="button-row">
        <SubmitButton
          pending={save.isPending}
          pendingLabel="Saving…"
          disabled={!name.trim() || !value}
        >
          {replacing ? "Replace value" : "Save credential"}
        </SubmitButton>
        {onDone && (
          <button type="button" onClick={onDone} disabled={save.isPending}>
            Cancel
          </button>
        )}
        <span role="status" className="muted">
          {saved && `Saved ${saved}.`}
          {fileName && value && ` Read ${fileName}.`}
        </span>
      </div>
    </form>
  );
}
