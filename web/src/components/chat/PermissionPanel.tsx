import type { PermissionAsk } from "../../lib/transcript.ts";
import { PermissionButtons } from "../PermissionButtons.tsx";

/** Policies that are not policies: what else decided a request (the node's own words). */
const NOT_POLICIES: Record<string, string> = {
  cancelled: "the turn was cancelled",
  timeout: "nobody answered in time",
  "no turn is running": "no turn was running",
  "session ended": "the session ended",
};

export function decisionText(ask: PermissionAsk): string {
  const decision = ask.decision;
  if (decision === null) return "Not answered.";
  const reason = decision.policy
    ? (NOT_POLICIES[decision.policy] ?? `policy ${decision.policy}`)
    : null;
  if (decision.outcome === "cancelled" || decision.optionId === null) {
    return reason ? `Cancelled: ${reason}.` : "Cancelled.";
  }
  const option = ask.options.find((o) => o.optionId === decision.optionId);
  const answer = option?.name ?? decision.optionId;
  return `Answered “${answer}” (${reason ?? (decision.by ? "by you" : "by Corral")}).`;
}

function decisionTone(ask: PermissionAsk): string {
  const decision = ask.decision;
  if (decision === null) return "";
  if (decision.outcome === "cancelled" || decision.optionId === null) return "muted";
  const kind = ask.options.find((o) => o.optionId === decision.optionId)?.kind ?? "";
  return kind.startsWith("allow") ? "permission-allowed" : kind.startsWith("reject") ? "error" : "";
}

/** A permission request's state: the agent's options while it waits, then who decided what. */
export function PermissionPanel({
  ask,
  label,
  canAnswer,
}: {
  ask: PermissionAsk;
  /** What the request is about ("Edit main.py"). */
  label: string;
  canAnswer: boolean;
}) {
  const pending = ask.decision === null;
  return (
    <div className={`permission-ask${pending ? " permission-pending" : ""}`}>
      {pending ? (
        <>
          <p className="permission-question">
            <strong>Permission needed</strong>
            {ask.truncated && (
              <span className="muted"> (the request was too large to record in full)</span>
            )}
          </p>
          {!canAnswer ? (
            <p className="muted">Not answered.</p>
          ) : ask.options.length > 0 ? (
            <PermissionButtons requestId={ask.requestId} options={ask.options} label={label} />
          ) : (
            <p className="muted">The agent offered no options to answer with.</p>
          )}
        </>
      ) : (
        <p className={`permission-decision ${decisionTone(ask)}`.trim()}>
          <strong>Permission:</strong> {decisionText(ask)}
        </p>
      )}
    </div>
  );
}
