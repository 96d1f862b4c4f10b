import { useId, type ReactNode } from "react";

export interface EnvRow {
  /** Stable React key; not sent anywhere. */
  key: number;
  name: string;
  value: string;
}

let nextKey = 1;

export function envRows(env: Record<string, string>): EnvRow[] {
  return Object.entries(env)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, value]) => ({ key: nextKey++, name, value }));
}

/** Rows as a mapping: rows without a name are left out; a repeated name keeps its last value. */
export function envRecord(rows: readonly EnvRow[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const row of rows) {
    const name = row.name.trim();
    if (name) env[name] = row.value;
  }
  return env;
}

/**
 * The JSON Merge Patch (RFC 7396) that turns the variables `before` into `after`, as the API
 * takes it: new or changed names with their values, removed ones with null. Null when they
 * are the same.
 */
export function envPatch(
  before: Record<string, string>,
  after: Record<string, string>,
): Record<string, string | null> | null {
  const patch: Record<string, string | null> = {};
  for (const [name, value] of Object.entries(after)) {
    if (before[name] !== value) patch[name] = value;
  }
  for (const name of Object.keys(before)) {
    if (!(name in after)) patch[name] = null;
  }
  return Object.keys(patch).length > 0 ? patch : null;
}

/**
 * Environment variables as editable name/value rows, with Add and Remove; `children` (such as
 * variables inherited from elsewhere, read-only) show below them.
 */
export function EnvEditor({
  rows,
  onChange,
  legend = "Environment variables",
  empty = "None.",
  error,
  children,
}: {
  rows: readonly EnvRow[];
  onChange: (rows: EnvRow[]) => void;
  legend?: string;
  /** What shows when there are no rows. */
  empty?: string;
  error?: string | null;
  children?: ReactNode;
}) {
  const id = useId();
  const update = (key: number, patch: Partial<EnvRow>) =>
    onChange(rows.map((r) => (r.key === key ? { ...r, ...patch } : r)));
  return (
    <fieldset className="env-editor" aria-describedby={error ? `${id}-error` : undefined}>
      <legend>{legend}</legend>
      {rows.length === 0 && <p className="muted">{empty}</p>}
      <ul>
        {rows.map((row, index) => {
          const label = row.name.trim() || `variable ${index + 1}`;
          return (
            <li key={row.key}>
              <input
                type="text"
                aria-label={`Name of ${label}`}
                value={row.name}
                placeholder="NAME"
                autoComplete="off"
                spellCheck={false}
                onChange={(e) => update(row.key, { name: e.target.value })}
              />
              <input
                type="text"
                aria-label={`Value of ${label}`}
                value={row.value}
                placeholder="value"
                autoComplete="off"
                spellCheck={false}
                onChange={(e) => update(row.key, { value: e.target.value })}
              />
              <button
                type="button"
                aria-label={`Remove ${label}`}
                onClick={() => onChange(rows.filter((r) => r.key !== row.key))}
              >
                Remove
              </button>
            </li>
          );
        })}
      </ul>
      <button
        type="button"
        onClick={() => onChange([...rows, { key: nextKey++, name: "", value: "" }])}
      >
        Add variable
      </button>
      {children}
      {error && (
        <p id={`${id}-error`} className="error field-error" role="alert">
          {error}
        </p>
      )}
    </fieldset>
  );
}
