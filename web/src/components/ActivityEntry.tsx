// One line of the activity feed: when, what and on what. Pull request events read as a
// sentence with links to the pull request and the chat; others show their action and object.

import type { ReactNode } from "react";
import { Link } from "react-router";

import type { Activity } from "../api/types.ts";
import { Ago } from "./Time.tsx";

const text = (value: unknown): string | null =>
  typeof value === "string" && value !== "" ? value : null;

/** A link that leaves Corral (GitHub), or the plain text when there is no address. */
function Out({ href, children }: { href: string | null; children: ReactNode }) {
  return href ? (
    <a href={href} target="_blank" rel="noreferrer">
      {children}
    </a>
  ) : (
    <>{children}</>
  );
}

/** The sentence for a `pull_request.*` event, or null for a verb this does not know. */
function pullRequestSentence(event: Activity): ReactNode {
  const details = event.details;
  const verb = event.action.slice("pull_request.".length);
  const name = event.object_name ?? event.object_id;
  // A check_failed event's `url` is the check run's (it replaces the pull request's).
  const pull =
    verb === "check_failed" ? (
      <code>{name}</code>
    ) : (
      <Out href={text(details.url)}>
        <code>{name}</code>
      </Out>
    );
  switch (verb) {
    case "opened":
      return <>Opened pull request {pull}</>;
    case "pushed": {
      const files = typeof details.files === "number" ? details.files : null;
      return (
        <>
          Pushed to pull request {pull}
          {files !== null && (
            <span className="muted">
              {" "}
              ({files} file{files === 1 ? "" : "s"})
            </span>
          )}
        </>
      );
    }
    case "merged":
      return <>Pull request {pull} was merged</>;
    case "closed":
      return <>Pull request {pull} was closed</>;
    case "reopened":
      return <>Pull request {pull} was reopened</>;
    case "review_requested": {
      const reviewer = text(details.reviewer);
      return (
        <>
          Review of {pull} requested{reviewer && <> from {reviewer}</>}
        </>
      );
    }
    case "check_failed": {
      const check = text(details.check) ?? "a check";
      return (
        <>
          Check <Out href={text(details.url)}>{check}</Out> failed on {pull}
        </>
      );
    }
    default:
      return null;
  }
}

export function ActivityEntry({ event }: { event: Activity }) {
  const sentence = event.action.startsWith("pull_request.") ? pullRequestSentence(event) : null;
  const session = text(event.details.session_id);
  return (
    <li>
      <Ago at={event.created_at} />{" "}
      {sentence ? (
        <span>
          {sentence}
          {session && (
            <>
              {" "}
              <span className="muted">
                (<Link to={`/sessions/${encodeURIComponent(session)}`}>the chat</Link>)
              </span>
            </>
          )}
        </span>
      ) : (
        <>
          <code>{event.action}</code> <span>{event.object_name ?? event.object_id}</span>
        </>
      )}
    </li>
  );
}
