import { useEffect, useRef } from "react";
import { Link, useParams } from "react-router";

import { useSession } from "../api/queries.ts";
import type { SessionState } from "../api/types.ts";
import { PromptForm } from "../components/PromptForm.tsx";
import { QueryStatus } from "../components/QueryStatus.tsx";
import { StateBadge } from "../components/StateBadge.tsx";
import { Elapsed } from "../components/Time.tsx";
import { Transcript } from "../components/Transcript.tsx";
import { useSessionTranscript, type TranscriptStatus } from "../hooks/useSessionTranscript.ts";
import { useTitle } from "../hooks/useTitle.ts";

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

/** Keeps the page scrolled to the end while the user is at the end. */
function useStickToBottom(dependency: unknown) {
  const end = useRef<HTMLDivElement>(null);
  const atBottom = useRef(true);
  useEffect(() => {
    const onScroll = () => {
      const doc = document.documentElement;
      atBottom.current = doc.scrollHeight - (window.scrollY + window.innerHeight) < 120;
    };
    window.addEventListener("scroll", onScroll, { passive: true });
    return () => window.removeEventListener("scroll", onScroll);
  }, []);
  useEffect(() => {
    if (atBottom.current) end.current?.scrollIntoView({ block: "end" });
  }, [dependency]);
  return end;
}

export function SessionPage() {
  const { id = "" } = useParams();
  const session = useSession(id);
  const { transcript, status } = useSessionTranscript(id);
  const end = useStickToBottom(transcript.items);
  const caughtUp = status.state === "live" || status.state === "connecting";
  const s = session.data;
  useTitle(s ? `${s.title || s.agent} (${s.state.replaceAll("_", " ")})` : "Session");

  return (
    <div className="session-page">
      <header className="session-header">
        <p className="breadcrumb">
          <Link to="/">Dashboard</Link> / session
        </p>
        <h1>
          {s ? s.title || s.agent : "Session"} {s && <StateBadge state={s.state} />}
        </h1>
        {s && (
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
            {s.model && (
              <div>
                <dt>Model</dt>
                <dd>{s.model}</dd>
              </div>
            )}
            <div>
              <dt>Policy</dt>
              <dd>{s.policy}</dd>
            </div>
          </dl>
        )}
        <QueryStatus query={session} what="the session" />
      </header>

      <section aria-label="Transcript" className="transcript-section">
        {transcript.items.length === 0 && caughtUp && <p className="muted">No events yet.</p>}
        <Transcript items={transcript.items} canAnswer={!!s && LIVE.includes(s.state)} />
        <StreamStatusLine status={status} />
        <div ref={end} />
      </section>

      {!(session.isError && !s) && (
        <PromptForm sessionId={id} canCancel={!!s && CANCELLABLE.includes(s.state)} />
      )}
    </div>
  );
}
