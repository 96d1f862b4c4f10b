import type { ReactNode } from "react";

import { useRowState } from "./rowState.ts";

/**
 * A summary button that shows or hides its body. Until the user toggles it, it follows
 * `defaultOpen` (which may change: a thought is open while it streams); after that, their choice,
 * kept under `stateKey` while the row scrolls out of view and back.
 */
export function Disclosure({
  summary,
  defaultOpen = false,
  stateKey,
  className = "",
  children,
}: {
  summary: ReactNode;
  defaultOpen?: boolean;
  stateKey?: string;
  className?: string;
  children: ReactNode;
}) {
  const [chosen, setChosen] = useRowState<boolean | null>(stateKey, null);
  const open = chosen ?? defaultOpen;
  return (
    <div className={`disclosure ${className}`.trim()}>
      <button
        type="button"
        className="disclosure-toggle"
        aria-expanded={open}
        onClick={() => setChosen(!open)}
      >
        <span className="disclosure-mark" aria-hidden="true">
          {open ? "▾" : "▸"}
        </span>
        {summary}
      </button>
      {open && <div className="disclosure-body">{children}</div>}
    </div>
  );
}
