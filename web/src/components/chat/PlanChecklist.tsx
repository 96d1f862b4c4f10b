import { memo } from "react";

import type { PlanEntry } from "../../lib/transcript.ts";

const MARKS: Record<string, string> = {
  pending: "☐",
  in_progress: "◐",
  completed: "☑",
};

/** The agent's plan as a checklist; each update replaces it whole. */
export const PlanChecklist = memo(function PlanChecklist({
  entries,
}: {
  entries: readonly PlanEntry[];
}) {
  const done = entries.filter((e) => e.status === "completed").length;
  return (
    <section className="plan" aria-label="Plan">
      <h3>
        Plan{" "}
        <span className="plan-progress muted">
          {done}/{entries.length} done
        </span>
      </h3>
      <ul className="plan-list">
        {entries.map((entry, i) => (
          <li key={i} className={`plan-entry plan-${entry.status}`}>
            <span className="plan-mark" aria-hidden="true">
              {MARKS[entry.status] ?? "☐"}
            </span>
            <span className="visually-hidden">{entry.status.replaceAll("_", " ")}: </span>
            <span className="plan-content">{entry.content}</span>
            {entry.priority && (
              <span className={`tag plan-priority plan-priority-${entry.priority}`}>
                {entry.priority}
              </span>
            )}
          </li>
        ))}
      </ul>
    </section>
  );
});
