// A chat's pull request, in its header: for a project on GitHub, a button that commits and
// pushes what the agent did and opens (or updates) the pull request, and then the pull request
// itself: its state, its checks, who was asked to review it, and a failed check to send back
// to the agent.

import { useState, type FormEvent } from "react";

import {
  useFixPullRequest,
  useOpenPullRequest,
  usePullRequest,
  type PullRequest,
} from "../api/pullRequests.ts";
import { useProject } from "../api/queries.ts";
import type { Session } from "../api/types.ts";
import { CheckboxField, SubmitButton, TextField } from "./form.tsx";
import { ErrorMessage } from "./QueryStatus.tsx";

const PUSHING = "Committing and pushing…";

function PullRequestStatus({ pull }: { pull: PullRequest }) {
  return (
    <p className="pull-request-status">
      <a href={pull.url} target="_blank" rel="noreferrer">
        {pull.repo}#{pull.number}
      </a>{" "}
      <span className={`badge badge-pr-${pull.state}`}>{pull.state}</span>
      {pull.checks && (
        <>
          {" "}
          <span className={`badge badge-checks-${pull.checks}`}>checks {pull.checks}</span>
        </>
      )}
      {pull.review_requested && (
        <span className="muted"> · review requested from {pull.review_requested}</span>
      )}
    </p>
  );
}

function FailedCheck({ sessionId, text }: { sessionId: string; text: string }) {
  const fix = useFixPullRequest(sessionId);
  const [name] = text.split("\n", 1);
  return (
    <div className="pull-request-failed">
      <details>
        <summary>
          Failed check: <span className="break">{name}</span>
        </summary>
        <pre>{text}</pre>
      </details>
      <div className="button-row">
        <button type="button" disabled={fix.isPending} onClick={() => fix.mutate()}>
          {fix.isPending ? "Sending…" : "Send to the agent"}
        </button>
        {fix.isSuccess && (
          <span className="muted" role="status">
            {fix.data.queued > 0 ? "Queued behind the running turn." : "Sent to the agent."}
          </span>
        )}
      </div>
      {fix.isError && <ErrorMessage error={fix.error} />}
    </div>
  );
}

/** The title and draft asked before opening; pushing to an open pull request asks only for
 * the commit message (the title again, by default the pull request's). */
function PullRequestForm({
  session,
  pull,
  onDone,
}: {
  session: Session;
  pull: PullRequest | null;
  onDone: () => void;
}) {
  const open = useOpenPullRequest(session.id);
  const pushing = pull !== null && pull.state === "open";
  const [title, setTitle] = useState(pushing ? "" : (session.title ?? ""));
  const [draft, setDraft] = useState(false);
  const label = pushing ? "Push to pull request" : "Open pull request";

  const send = (event: FormEvent) => {
    event.preventDefault();
    if (open.isPending) return;
    const chosen = title.trim();
    open.mutate(
      // `draft` counts only when a pull request is opened.
      { ...(chosen ? { title: chosen } : {}), draft: !pushing && draft },
      { onSuccess: onDone },
    );
  };

  return (
    <form
      className="form pull-request-form"
      aria-label={label}
      onSubmit={send}
      onKeyDown={(e) => {
        if (e.key === "Escape" && !open.isPending) onDone();
      }}
    >
      <TextField
        label={pushing ? "Commit message" : "Title"}
        hint={
          pushing
            ? `Default: ${pull.title}`
            : "Default: the chat's title. Uncommitted work is committed with it."
        }
        value={title}
        maxLength={256}
        autoFocus
        disabled={open.isPending}
        onChange={setTitle}
      />
      {!pushing && <CheckboxField label="Draft" checked={draft} onChange={setDraft} />}
      {open.isPending && (
        <p className="muted" role="status">
          {PUSHING}
        </p>
      )}
      {open.isError && <ErrorMessage error={open.error} />}
      <div className="button-row">
        <SubmitButton pending={open.isPending} pendingLabel="Pushing…">
          {label}
        </SubmitButton>
        <button type="button" disabled={open.isPending} onClick={onDone}>
          Cancel
        </button>
      </div>
    </form>
  );
}

/** Nothing unless the chat's project is on GitHub (`github_repo`). */
export function PullRequestPanel({ session }: { session: Session }) {
  const project = useProject(session.project_id);
  const onGitHub = !!project.data?.github_repo;
  const pull = usePullRequest(session.id, onGitHub);
  const [asking, setAsking] = useState(false);
  if (!onGitHub) return null;
  const current = pull.data ?? null;
  const pushing = current !== null && current.state === "open";
  return (
    <section className="pull-request" aria-label="Pull request">
      {current && <PullRequestStatus pull={current} />}
      {current?.checks === "failed" && current.failed_check && (
        <FailedCheck sessionId={session.id} text={current.failed_check} />
      )}
      {pull.isError && <ErrorMessage error={pull.error} />}
      {asking ? (
        <PullRequestForm session={session} pull={current} onDone={() => setAsking(false)} />
      ) : (
        <div className="button-row">
          <button type="button" disabled={pull.isPending} onClick={() => setAsking(true)}>
            {pushing ? "Push to pull request" : "Open pull request"}
          </button>
        </div>
      )}
    </section>
  );
}
