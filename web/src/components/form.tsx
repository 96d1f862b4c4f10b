// Small form parts the settings and project screens share: a labelled field that shows the API's
// error for it (as a text input or a select too), a checkbox, radios, the submit button, a form
// that creates something from a name, a button that asks before it deletes, a copy button, and
// a secret shown once.

import {
  useEffect,
  useId,
  useRef,
  useState,
  type FormEvent,
  type InputHTMLAttributes,
  type ReactNode,
} from "react";

import { isApiError } from "../api/client.ts";
import { ErrorMessage } from "./QueryStatus.tsx";

interface FieldDetail {
  field?: unknown;
  message?: unknown;
  type?: unknown;
}

/**
 * The API's message for one of `fields` (`"body.repo"`, `"path.name"`…) when `error` is a 422
 * naming it, else null. Pydantic's errors carry a message per field; our own carry the one
 * message of the error.
 */
export function fieldError(error: unknown, ...fields: string[]): string | null {
  if (!isApiError(error) || error.status !== 422 || !Array.isArray(error.details)) return null;
  for (const detail of error.details as FieldDetail[]) {
    const name = typeof detail?.field === "string" ? detail.field : "";
    if (fields.some((f) => name === f || name.startsWith(`${f}.`))) {
      return detail.type !== undefined && typeof detail.message === "string"
        ? detail.message
        : error.message;
    }
  }
  return null;
}

export interface ControlProps {
  id: string;
  "aria-describedby"?: string;
  "aria-invalid"?: true;
}

interface FieldProps {
  label: ReactNode;
  hint?: ReactNode;
  error?: string | null;
}

/** A label, the control `children` renders with the given props, a hint and an error. */
export function Field({
  label,
  hint,
  error,
  children,
}: FieldProps & { children: (props: ControlProps) => ReactNode }) {
  const id = useId();
  const hintId = hint ? `${id}-hint` : undefined;
  const errorId = error ? `${id}-error` : undefined;
  const describedBy = [errorId, hintId].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      {children({
        id,
        "aria-describedby": describedBy,
        ...(error ? { "aria-invalid": true as const } : {}),
      })}
      {error && (
        <p id={errorId} className="error field-error" role="alert">
          {error}
        </p>
      )}
      {hint && (
        <p id={hintId} className="muted field-hint">
          {hint}
        </p>
      )}
    </div>
  );
}

/** A `Field` with a text input (or `type` another); `onChange` gets the new value. */
export function TextField({
  label,
  hint,
  error,
  onChange,
  ...input
}: FieldProps &
  Omit<InputHTMLAttributes<HTMLInputElement>, "id" | "value" | "onChange"> & {
    value: string;
    onChange: (value: string) => void;
  }) {
  return (
    <Field label={label} hint={hint} error={error}>
      {(props) => (
        <input type="text" {...input} {...props} onChange={(e) => onChange(e.target.value)} />
      )}
    </Field>
  );
}

/** A `Field` with a select of the `<option>`s in `children`, whose values are `T`s (an API
 * enum's, say); `onChange` gets the new value. */
export function SelectField<T extends string = string>({
  label,
  hint,
  error,
  value,
  onChange,
  children,
}: FieldProps & { value: T; onChange: (value: T) => void; children: ReactNode }) {
  return (
    <Field label={label} hint={hint} error={error}>
      {(props) => (
        <select {...props} value={value} onChange={(e) => onChange(e.target.value as T)}>
          {children}
        </select>
      )}
    </Field>
  );
}

/** A checkbox with its label beside it and a hint below; `onChange` gets whether it is checked. */
export function CheckboxField({
  label,
  hint,
  checked,
  onChange,
}: {
  label: ReactNode;
  hint?: ReactNode;
  checked: boolean;
  onChange: (checked: boolean) => void;
}) {
  const id = useId();
  return (
    <div className="field">
      <label className="check">
        <input
          type="checkbox"
          checked={checked}
          aria-describedby={hint ? `${id}-hint` : undefined}
          onChange={(e) => onChange(e.target.checked)}
        />
        {label}
      </label>
      {hint && (
        <p id={`${id}-hint`} className="muted field-hint">
          {hint}
        </p>
      )}
    </div>
  );
}

/** Radios for one of `choices` under `legend`, and the chosen one's hint below them. */
export function RadioGroup<T extends string>({
  legend,
  choices,
  value,
  onChange,
}: {
  legend: string;
  choices: readonly { value: T; label: string; hint?: ReactNode }[];
  value: T;
  onChange: (value: T) => void;
}) {
  const id = useId();
  const hint = choices.find((c) => c.value === value)?.hint;
  return (
    <fieldset className="fieldset" aria-describedby={hint ? `${id}-hint` : undefined}>
      <legend>{legend}</legend>
      <div className="button-row">
        {choices.map((choice) => (
          <label key={choice.value} className="check">
            <input
              type="radio"
              name={id}
              value={choice.value}
              checked={choice.value === value}
              onChange={() => onChange(choice.value)}
            />
            {choice.label}
          </label>
        ))}
      </div>
      {hint && (
        <p id={`${id}-hint`} className="muted field-hint">
          {hint}
        </p>
      )}
    </fieldset>
  );
}

/** The form's primary button: `pendingLabel` while the request runs, and disabled then. */
export function SubmitButton({
  pending,
  pendingLabel,
  disabled = false,
  children,
}: {
  pending: boolean;
  pendingLabel: string;
  disabled?: boolean;
  children: ReactNode;
}) {
  return (
    <button type="submit" className="button-primary" disabled={disabled || pending}>
      {pending ? pendingLabel : children}
    </button>
  );
}

/** What `NameForm` needs of a mutation that takes the name (a react-query mutation). */
interface NameMutation {
  mutate: (name: string, options: { onSuccess: () => void }) => void;
  isPending: boolean;
  isError: boolean;
  error: unknown;
}

/**
 * A form that sends one name to `mutation` (trimmed; not while it runs), with the API's error
 * for `body.name` by the field, any other below it, and the field emptied once it worked.
 */
export function NameForm({
  title,
  mutation,
  label,
  hint,
  maxLength,
  spellCheck,
  submit,
  pendingLabel,
}: {
  /** The form's heading. */
  title: string;
  mutation: NameMutation;
  label: string;
  hint: string;
  maxLength: number;
  spellCheck?: boolean;
  /** The button's text. */
  submit: string;
  pendingLabel: string;
}) {
  const [name, setName] = useState("");
  const headingId = useId();

  const send = (event: FormEvent) => {
    event.preventDefault();
    if (!name.trim() || mutation.isPending) return;
    mutation.mutate(name.trim(), { onSuccess: () => setName("") });
  };

  const nameError = fieldError(mutation.error, "body.name");
  return (
    <form className="form" onSubmit={send} aria-labelledby={headingId}>
      <h3 id={headingId}>{title}</h3>
      <div className="form-grid">
        <TextField
          label={label}
          error={nameError}
          hint={hint}
          value={name}
          required
          maxLength={maxLength}
          spellCheck={spellCheck}
          autoComplete="off"
          onChange={setName}
        />
      </div>
      {mutation.isError && !nameError && <ErrorMessage error={mutation.error} />}
      <SubmitButton
        pending={mutation.isPending}
        pendingLabel={pendingLabel}
        disabled={!name.trim()}
      >
        {submit}
      </SubmitButton>
    </form>
  );
}

/**
 * A button that asks before doing something that cannot be undone: the first click shows the
 * question with the real button and Cancel.
 */
export function ConfirmButton({
  children,
  question,
  confirmLabel,
  onConfirm,
  pending = false,
  label,
}: {
  children: ReactNode;
  question: ReactNode;
  confirmLabel: string;
  onConfirm: () => void;
  pending?: boolean;
  /** Accessible name of the first button when its text alone is ambiguous ("Delete demo"). */
  label?: string;
}) {
  const [asking, setAsking] = useState(false);
  const cancel = useRef<HTMLButtonElement>(null);
  const trigger = useRef<HTMLButtonElement>(null);
  const cancelled = useRef(false);
  useEffect(() => {
    if (asking) cancel.current?.focus();
    else if (cancelled.current) trigger.current?.focus();
    cancelled.current = false;
  }, [asking]);
  const stopAsking = () => {
    cancelled.current = true;
    setAsking(false);
  };
  if (!asking) {
    return (
      <button
        type="button"
        ref={trigger}
        className="button-danger"
        aria-label={label}
        onClick={() => setAsking(true)}
      >
        {children}
      </button>
    );
  }
  return (
    <span
      className="confirm"
      role="group"
      aria-label={label ?? confirmLabel}
      onKeyDown={(e) => {
        if (e.key === "Escape" && !pending) stopAsking();
      }}
    >
      <span>{question}</span>{" "}
      <span className="button-row">
        <button type="button" className="button-danger" disabled={pending} onClick={onConfirm}>
          {pending ? "Working…" : confirmLabel}
        </button>
        <button type="button" ref={cancel} disabled={pending} onClick={stopAsking}>
          Cancel
        </button>
      </span>
    </span>
  );
}

/** Copies `text`; says whether it worked (clipboards need https or localhost). */
export function CopyButton({ text, label = "Copy" }: { text: string; label?: string }) {
  const [status, setStatus] = useState<"idle" | "copied" | "failed">("idle");
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setStatus("copied");
    } catch {
      setStatus("failed");
    }
  };
  return (
    <span className="button-row">
      <button type="button" onClick={() => void copy()}>
        {label}
      </button>
      <span role="status" className={status === "failed" ? "warning" : "muted"}>
        {status === "copied" && "Copied."}
        {status === "failed" && "Could not copy; select the text and copy it."}
      </span>
    </span>
  );
}

/** A secret the API returns once: the value, a copy button, the warning, and Done. */
export function SecretOnce({
  title,
  value,
  children,
  onDone,
}: {
  title: string;
  value: string;
  /** What to do with it, shown above the value. */
  children?: ReactNode;
  onDone: () => void;
}) {
  const headingId = useId();
  const region = useRef<HTMLElement>(null);
  // It replaces the form that was just sent, which had the focus.
  useEffect(() => region.current?.focus(), []);
  return (
    <section className="secret-once" aria-labelledby={headingId} ref={region} tabIndex={-1}>
      <h3 id={headingId}>{title}</h3>
      {children}
      <pre className="break" tabIndex={0}>
        <code>{value}</code>
      </pre>
      <p className="warning">Copy it now: it is not shown again.</p>
      <div className="button-row">
        <CopyButton text={value} />
        <button type="button" onClick={onDone}>
          Done
        </button>
      </div>
    </section>
  );
}

/**
 * Split a command line into arguments, as a shell would for the simple cases: spaces separate,
 * and single or double quotes keep spaces inside one argument.
 */
export function splitCommand(line: string): string[] {
  const args: string[] = [];
  let current = "";
  let inArg = false;
  let quote: '"' | "'" | null = null;
  for (const ch of line) {
    if (quote) {
      if (ch === quote) quote = null;
      else current += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inArg = true;
    } else if (/\s/.test(ch)) {
      if (inArg) args.push(current);
      current = "";
      inArg = false;
    } else {
      current += ch;
      inArg = true;
    }
  }
  if (inArg) args.push(current);
  return args;
}
