import { useId } from "react";

import { useCosts } from "../api/nodes.ts";
import { useMe } from "../api/queries.ts";
import type { Spend } from "../api/types.ts";
import { formatCost, formatHourly } from "../lib/money.ts";

interface Total {
  currency: string;
  thisMonth: number;
  perHourNow: number;
  users: Spend[];
}

/** The spends added up per currency, each with the users' own. */
function byCurrency(spends: readonly Spend[]): Total[] {
  const totals = new Map<string, Total>();
  for (const spend of spends) {
    const total = totals.get(spend.currency) ?? {
      currency: spend.currency,
      thisMonth: 0,
      perHourNow: 0,
      users: [],
    };
    total.thisMonth += spend.this_month;
    total.perHourNow += spend.per_hour_now;
    total.users.push(spend);
    totals.set(spend.currency, total);
  }
  return [...totals.values()];
}

/**
 * What cloud nodes have cost this month, per currency, and what the machines there now cost per
 * hour; the owner sees each user's part (unless it is all their own). Nothing while nothing
 * costs anything.
 */
export function CloudSpend() {
  const costs = useCosts();
  const me = useMe();
  const headingId = useId();
  const spends = (costs.data ?? []).filter((s) => s.this_month > 0 || s.per_hour_now > 0);
  if (spends.length === 0) return null;
  const isOwner = me.data?.role === "owner";
  return (
    <section className="cloud-spend" aria-labelledby={headingId}>
      <h3 id={headingId}>Cloud spend this month</h3>
      <ul>
        {byCurrency(spends).map((total) => (
          <li key={total.currency}>
            <strong className="cloud-spend-amount">
              {formatCost(total.thisMonth, total.currency)}
            </strong>
            {total.perHourNow > 0 && (
              <span className="muted"> now {formatHourly(total.perHourNow, total.currency)}</span>
            )}
            {isOwner && total.users.some((u) => u.user_id !== me.data?.id) && (
              <ul className="muted">
                {total.users.map((u) => (
                  <li key={u.user_id}>
                    {u.user_name}: {formatCost(u.this_month, u.currency)}
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
}
