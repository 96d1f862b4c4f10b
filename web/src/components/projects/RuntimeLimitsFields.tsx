import { useNodes } from "../../api/nodes.ts";
import type { Project } from "../../api/types.ts";
import { formatBytes, parseBytes } from "../../lib/sizes.ts";
import { SelectField, TextField, fieldError } from "../form.tsx";

/** Corral's own runtimes; nodes may report others (a plugin's). */
const BUILTIN_RUNTIMES = ["devcontainer", "host"];

/** The runtime and limits fields as typed: strings, empty for the node's default. */
export interface RuntimeLimits {
  runtime: string;
  cpus: string;
  memory: string;
  pids: string;
}

/** The runtime and limits as the API takes them (null: auto, the node's default). */
export interface RuntimeLimitsBody {
  runtime: string | null;
  cpus: number | null;
  memory_bytes: number | null;
  pids: number | null;
}

type Problems = Partial<Record<"cpus" | "memory" | "pids", string>>;

/** The runtimes a workspace may ask for: Corral's own and every one a node reports. */
export function useRuntimeNames(): string[] {
  const nodes = useNodes();
  const names = new Set(BUILTIN_RUNTIMES);
  for (const node of nodes.data ?? []) for (const runtime of node.runtimes) names.add(runtime.name);
  return [...names].sort();
}

/** The fields as a project has them (a new project's: auto, the node's defaults). */
export function runtimeLimitsOf(project: Project | null): RuntimeLimits {
  return {
    runtime: project?.runtime ?? "auto",
    cpus: project?.cpus != null ? String(project.cpus) : "",
    memory: project?.memory_bytes != null ? formatBytes(project.memory_bytes) : "",
    pids: project?.pids != null ? String(project.pids) : "",
  };
}

/** What the fields say in the API's terms, or what is wrong with them. */
export function parseRuntimeLimits(values: RuntimeLimits): {
  body: RuntimeLimitsBody;
  problems: Problems;
} {
  const problems: Problems = {};
  const number = (text: string, key: keyof Problems, valid: RegExp, example: string) => {
    if (!text.trim()) return null;
    if (!valid.test(text.trim())) {
      problems[key] = `Write it like ${example}, or leave it empty for the node's default.`;
      return null;
    }
    return Number(text.trim());
  };
  let memory: number | null = null;
  if (values.memory.trim()) {
    memory = parseBytes(values.memory);
    if (memory === null) {
      problems.memory = "Write it like 512m, 2g or 1.5 GiB, or leave it empty for the default.";
    }
  }
  return {
    body: {
      runtime: values.runtime === "auto" ? null : values.runtime,
      cpus: number(values.cpus, "cpus", /^\d+(\.\d+)?$/, "2 or 1.5"),
      memory_bytes: memory,
      pids: number(values.pids, "pids", /^\d+$/, "512"),
    },
    problems,
  };
}

/** The parts of `body` a new project sets (the rest are its defaults: auto, the node's). */
export function setOnly(body: RuntimeLimitsBody): Partial<RuntimeLimitsBody> {
  const set: Partial<RuntimeLimitsBody> = {};
  if (body.runtime !== null) set.runtime = body.runtime;
  if (body.cpus !== null) set.cpus = body.cpus;
  if (body.memory_bytes !== null) set.memory_bytes = body.memory_bytes;
  if (body.pids !== null) set.pids = body.pids;
  return set;
}

/** The parts of `body` that differ from what `project` has. */
export function changedRuntimeLimits(
  body: RuntimeLimitsBody,
  project: Project,
): Partial<RuntimeLimitsBody> {
  const changes: Partial<RuntimeLimitsBody> = {};
  if ((body.runtime ?? "auto") !== project.runtime) changes.runtime = body.runtime;
  if (body.cpus !== project.cpus) changes.cpus = body.cpus;
  if (body.memory_bytes !== project.memory_bytes) changes.memory_bytes = body.memory_bytes;
  if (body.pids !== project.pids) changes.pids = body.pids;
  return changes;
}

/** The fields `RuntimeLimitsFields` shows an error for, as the API names them. */
export const RUNTIME_LIMITS_FIELDS = [
  "body.runtime",
  "body.cpus",
  "body.memory_bytes",
  "body.pids",
];

/** Runtime and limits of a project's workspaces; `error` is the API's answer to the form. */
export function RuntimeLimitsFields({
  values,
  onChange,
  error,
  readOnly = false,
}: {
  values: RuntimeLimits;
  onChange: (values: RuntimeLimits) => void;
  error: unknown;
  readOnly?: boolean;
}) {
  const runtimes = useRuntimeNames();
  const { problems } = parseRuntimeLimits(values);
  const set = (key: keyof RuntimeLimits) => (value: string) =>
    onChange({ ...values, [key]: value });
  return (
    <div className="form-grid">
      <SelectField
        label="Runtime"
        error={fieldError(error, "body.runtime")}
        hint="Auto: a devcontainer where the node has Docker, else the host."
        value={values.runtime}
        onChange={set("runtime")}
      >
        <option value="auto">Auto</option>
        {runtimes.map((name) => (
          <option key={name} value={name}>
            {name}
          </option>
        ))}
      </SelectField>
      <TextField
        label="CPUs"
        error={problems.cpus ?? fieldError(error, "body.cpus")}
        hint="Each workspace's; empty: the node's default."
        inputMode="decimal"
        value={values.cpus}
        placeholder="default"
        autoComplete="off"
        readOnly={readOnly}
        onChange={set("cpus")}
      />
      <TextField
        label="Memory"
        error={problems.memory ?? fieldError(error, "body.memory_bytes")}
        hint="Like 512m or 4g; empty: the node's default."
        value={values.memory}
        placeholder="default"
        spellCheck={false}
        autoComplete="off"
        readOnly={readOnly}
        onChange={set("memory")}
      />
      <TextField
        label="Processes"
        error={problems.pids ?? fieldError(error, "body.pids")}
        hint="Processes and threads; empty: the node's default."
        inputMode="numeric"
        value={values.pids}
        placeholder="default"
        autoComplete="off"
        readOnly={readOnly}
        onChange={set("pids")}
      />
    </div>
  );
}
