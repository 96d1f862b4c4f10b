import type { ReactNode } from "react";

import { isApiError } from "../api/client.ts";

export function ErrorMessage({ error }: { error: unknown }) {
  const message = error instanceof Error ? error.message : String(error);
  const code = isApiError(error) ? error.code : null;
  return (
    <p className="error" role="alert">
      {message}
      {code && <span className="muted"> ({code})</span>}
    </p>
  );
}

interface QueryLike {
  isPending: boolean;
  error: unknown;
  data?: unknown;
}

/**
 * What to show in place of a list while it loads or when it failed: a "Loading" line, the
 * error, or (data on screen, a refresh failed) a quiet warning above it. `null` otherwise.
 */
export function QueryStatus({ query, what }: { query: QueryLike; what: string }): ReactNode {
  if (query.isPending) return <p className="muted">Loading {what}…</p>;
  if (query.error && query.data === undefined) return <ErrorMessage error={query.error} />;
  if (query.error) {
    return (
      <p className="warning" role="status">
        Could not refresh {what}; showing what was last loaded.
      </p>
    );
  }
  return null;
}
