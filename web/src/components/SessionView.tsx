// One agent session: its header (agent, state, mode, model, policy), the live transcript and the
// prompt box. The session page shows it alone; a workspace page shows one per chat tab.

import { useId } from "react";
import { Link } from "react-router";

import { useSession, useSteerSession, useStopSession } from "../api/queries.ts";
import type { Session, SessionState } from "../api/types.ts";
import { PromptForm } from "./PromptForm.tsx";
import { PullRequestPanel } from "./PullRequestPanel.tsx";
import { ErrorMessage, QueryStatus } from "./QueryStatus.tsx";
import { StateBadge } from "./StateBadge.tsx";
import { Elapsed } from "./Time.tsx";
import { CwdProvider } from "./chat/paths.ts";
import { Transcript } from "./Transcript.tsx";
import { UsageSummary } from "./UsageSummary.tsx";
import { useSessionTranscript, type TranscriptStatus } from "../hooks/useSessionTranscript.ts";

const CANCELLABLE: readonly SessionState[] = ["starting", "running", "awaiting_permission"];
const LIVE: readonly SessionState[] = ["starting", "idle", "running", "awaiting_permission"];

function StreamStatusLine({ status }: { status: TranscriptStatus }) {
  let text: string;
  switch (status.state) {
    case "loading":
      text = "Loading the transcript…";
      break;
    case "connecting":
      text = "Connecting…";
      break;
    case "live":
      text = "Live";
      break;
    case "reconnecting":
      text = `Disconnected; reconnecting (attempt ${status.attempt})…`;
      break;
    case "closed":
      text = `Live updates stopped: ${status.reason || `code ${status.code}`}`;
      break;
    case "failed":
      text = `Could not load the transcript: ${status.message}`;
      break;
  }
  return (
    <p className={`stream-status stream-${status.state}`} role="status" data-testid="stream-status">
      {text}
    </p>
  );
}

interface Choice {
  id: string;
  name: string;
}

type Json = Record<string, unknown>;

/** The agent's model config option (ACP `configOptions`, category `model`), if it has one. */
function modelOption(session: Session): Json | undefined {
  const options = session.agent_info?.config_options;
  return Array.isArray(options)
    ? (options as Json[]).find((o) => o?.category === "model" && Array.isArray(o.options))
    : undefined;
}

/** A select option's values, flattening grouped options (`{group, options: [...]}`). */
function selectValues(options: unknown[]): Choice[] {
  return options.flatMap((entry) => {
    const o = entry as Json;
    if (Array.isArray(o?.options)) return selectValues(o.options);
    return typeof o?.value === "string"
      ? [{ id: o.value, name: typeof o.name === "string" ? o.name : o.value }]
      : [];
  });
}

/**
 * The agent's modes or models from its `session/new` answer (kept in `agent_info`): `modes`,
 * and `models` or else the model config option that newer agents send instead.
 */
function choices(session: Session, kind: "modes" | "models"): Choice[] {
  const group = session.agent_info?.[kind] as Json | null | undefined;
  const list = group?.[kind === "modes" ? "availableModes" : "availableModels"];
  if (!Array.isArray(list)) {
    const option = kind === "models" ? modelOption(session) : undefined;
    return option ? selectValues(option.options as unknown[]) : [];
  }
  return list.flatMap((entry: Json) => {
    const id = entry?.[kind === "modes" ? "id" : "modelId"];
    return typeof id === "string"
      ? [{ id, name: typeof entry.name === "string" ? entry.name : id }]
      : [];
  });
}

function currentModel(session: Session): string | null {
  const models = session.agent_info?.models as Json | null | undefined;
  const current = models?.currentModelId ?? modelOption(session)?.currentValue;
  return session.model ?? (typeof current === "string" ? current : null);
}

function Picker({
  label,
  value,
  options,
  disabled,
  onChange,
}: {
  label: string;
  value: string | null;
  options: Choice[];
  disabled: boolean;
  onChange: (id: string) => void;
}) {
  const id = useId();
  return (
    <div>
      <dt>
        <label htmlFor={id}>{label}</label>
      </dt>
      <dd>
        <select
          id={id}
          value={value ?? ""}
          disabled={disabled}
          onChange={(e) => onChange(e.target.value)}
        >
          {value === null && <option value="">(agent's default)</option>}
          {value !== null && !options.some((o) => o.id === value) && (
            <option value={value}>{value}</option>
          )}
          {options.map((o) => (
            <option key={o.id} value={o.id}>
              {o.name}
            </option>
          ))}
        </select>
      </dd>
    </div>
  );
}

function SessionFacts({ session: s }: { session: Session }) {
  const steer = useSteerSession(s.id);
  const stop = useStopSession(s.id);
  const live = LIVE.includes(s.state);
  const modes = choices(s, "modes");
  const models = choices(s, "models");
  return (
    <>
      <dl className="facts">
        <div>
          <dt>Agent</dt>
          <dd>{s.agent}</dd>
        </div>
        <div>
          <dt>State</dt>
          <dd>
            {s.state.replaceAll("_", " ")} for <Elapsed since={s.state_changed_at} />
            {s.state_reason && <span className="muted"> ({s.state_reason})</span>}
          </dd>
        </div>
        {modes.length > 0 ? (
          <Picker
            label="Mode"
            value={s.mode}
            options={modes}
            disabled={!live || steer.isPending}
            onChange={(mode) => steer.mutate({ mode })}
          />
        ) : (
          s.mode && (
            <div>
              <dt>Mode</dt>
              <dd>{s.mode}</dd>
            </div>
          )
        )}
        {models.length > 0 ? (
          <Picker
            label="Model"
            value={currentModel(s)}
            options={models}
            disabled={!live || steer.isPending}
            onChange={(model) => steer.mutate({ model })}
          />
        ) : (
          currentModel(s) && (
            <div>
              <dt>Model</dt>
              <dd>{currentModel(s)}</dd>
            </div>
          )
        )}
        <div>
          <dt>Policy</dt>
          <dd>{s.policy}</dd>
        </div>
      </dl>
      {live && (
        <div className="button-row">
          <button type="button" onClick={() => stop.mutate()} disabled={stop.isPending}>
            {stop.isPending ? "Stopping…" : "Stop agent"}
          </button>
          <span className="muted">The chat stays; the next prompt starts the agent again.</span>
        </div>
      )}
      {steer.isError && <ErrorMessage error={steer.error} />}
      {stop.isError && <ErrorMessage error={stop.error} />}
    </>
  );
}

export function SessionView({
  sessionId,
  embedded = false,
}: {
  sessionId: string;
  /** In a workspace tab: no breadcrumb, and the title is a smaller heading. */
  embedded?: boolean;
}) {
  const session = useSession(sessionId);
  const { transcript, status, startedPrompts } = useSessionTranscript(sessionId);
  const caughtUp = status.state === "live" || status.state === "connecting";
  const s = session.data;
  const Heading = embedded ? "h2" : "h1";

  return (
    <div className="session-view">
      <header className="session-header">
        {!embedded && (
          <p className="breadcrumb">
            <Link to="/">Dashboard</Link> /{" "}
            {s?.workspace_id ? (
              <Link to={`/workspaces/${s.workspace_id}`}>workspace</Link>
            ) : (
              "session"
            )}
          </p>
        )}
        <Heading>
          {s ? s.title || s.agent : "Session"} {s && <StateBadge state={s.state} />}
        </Heading>
        {s && <SessionFacts session={s} />}
        {s && <PullRequestPanel session={s} />}
        {s && <UsageSummary context={s.context_usage} turn={s.turn_usage} />}
        <QueryStatus query={session} what="the session" />
      </header>

      <section aria-label="Transcript" className="transcript-section">
        {transcript.items.length === 0 && caughtUp && <p className="muted">No events yet.</p>}
        <CwdProvider value={typeof s?.agent_info?.cwd === "string" ? s.agent_info.cwd : null}>
          <Transcript items={transcript.items} canAnswer={!!s && LIVE.includes(s.state)} />
        </CwdProvider>
        <StreamStatusLine status={status} />
      </section>

      {!(session.isError && !s) && (
        <PromptForm
          sessionId={sessionId}
          canCancel={!!s && CANCELLABLE.includes(s.state)}
          startedPrompts={startedPrompts}
        />
      )}
    </div>
  );
}
