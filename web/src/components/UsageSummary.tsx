import type { Transcript } from "../lib/transcript.ts";

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

export function formatTokens(count: number): string {
  return compact.format(count);
}

export function formatCost(amount: number, currency: string): string {
  try {
    return new Intl.NumberFormat("en", {
      style: "currency",
      currency,
      maximumFractionDigits: amount < 1 ? 4 : 2,
    }).format(amount);
  } catch {
    return `${amount} ${currency}`; // not an ISO 4217 code
  }
}

/**
 * What the agent reported of its usage, compact for the session header: the context window
 * (`usage_update`'s used/size), the session's cost, and the last turn's tokens (`turn_end`).
 * Nothing when the agent reports none.
 */
export function UsageSummary({ transcript }: { transcript: Transcript }) {
  const context = transcript.context;
  const turn = transcript.lastTurnUsage;
  const window =
    context && context.used !== null && context.size !== null && context.size > 0
      ? { used: context.used, size: context.size }
      : null;
  const cost = context?.cost ?? null;
  const turnParts = turn
    ? [
        turn.inputTokens !== null && `${formatTokens(turn.inputTokens)} in`,
        turn.outputTokens !== null && `${formatTokens(turn.outputTokens)} out`,
        turn.thoughtTokens && `${formatTokens(turn.thoughtTokens)} thinking`,
        turn.cachedReadTokens && `${formatTokens(turn.cachedReadTokens)} cached`,
      ].filter((part): part is string => typeof part === "string")
    : [];
  if (turn && turnParts.length === 0 && turn.totalTokens !== null) {
    turnParts.push(`${formatTokens(turn.totalTokens)} tokens`);
  }
  if (!window && !cost && turnParts.length === 0) return null;

  const percent = window ? Math.min(100, Math.round((window.used / window.size) * 100)) : 0;
  return (
    <dl className="usage-summary" aria-label="Usage">
      {window && (
        <div>
          <dt>Context</dt>
          <dd title={`${window.used.toLocaleString()} of ${window.size.toLocaleString()} tokens`}>
            <meter
              className="usage-meter"
              min={0}
              max={window.size}
              low={window.size * 0.7}
              high={window.size * 0.9}
              optimum={0}
              value={window.used}
            />{" "}
            {formatTokens(window.used)} / {formatTokens(window.size)} ({percent}%)
          </dd>
        </div>
      )}
      {cost && (
        <div>
          <dt>Cost</dt>
          <dd>{formatCost(cost.amount, cost.currency)}</dd>
        </div>
      )}
      {turnParts.length > 0 && (
        <div>
          <dt>Last turn</dt>
          <dd>{turnParts.join(" · ")}</dd>
        </div>
      )}
    </dl>
  );
}
