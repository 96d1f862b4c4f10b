import type { ContextUsage, TokenUsage } from "../api/types.ts";
import { formatCost } from "../lib/money.ts";

const compact = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });

export function formatTokens(count: number): string {
  return compact.format(count);
}

/**
 * What the agent reported of its usage, compact for the session header: the context window and
 * the session's cost (the session's `context_usage`, from the agent's last `usage_update`), and
 * the last turn's tokens (its `turn_usage`). Nothing when the agent reports none.
 */
export function UsageSummary({
  context,
  turn,
}: {
  context: ContextUsage | null;
  turn: TokenUsage | null;
}) {
  const window =
    context && context.used !== null && context.size !== null && context.size > 0
      ? { used: context.used, size: context.size }
      : null;
  const cost = context?.cost ?? null;
  const turnParts = turn
    ? [
        turn.input_tokens !== null && `${formatTokens(turn.input_tokens)} in`,
        turn.output_tokens !== null && `${formatTokens(turn.output_tokens)} out`,
        turn.thought_tokens && `${formatTokens(turn.thought_tokens)} thinking`,
        turn.cached_read_tokens && `${formatTokens(turn.cached_read_tokens)} cached`,
      ].filter((part): part is string => typeof part === "string")
    : [];
  if (turn && turnParts.length === 0 && turn.total_tokens !== null) {
    turnParts.push(`${formatTokens(turn.total_tokens)} tokens`);
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
