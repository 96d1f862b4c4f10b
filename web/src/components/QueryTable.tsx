// A list from a query as a table (with its loading and error lines, and a line when it is
// empty), and the button that loads a paged list's next page.

import type { ReactNode } from "react";

import { ErrorMessage, QueryStatus } from "./QueryStatus.tsx";

/**
 * `query`'s status (see `QueryStatus`), then `rows` (its data, once loaded) in a table under
 * the header cells `head`, one `children(row)` each; with `empty`, that line instead of an
 * empty table. `labelledBy` names the table by a heading's id, where a section holds several.
 */
export function QueryTable<T>({
  query,
  what,
  rows,
  empty,
  head,
  labelledBy,
  children,
}: {
  query: Parameters<typeof QueryStatus>[0]["query"];
  /** What the list holds, for the status lines ("nodes"). */
  what: string;
  rows: readonly T[] | undefined;
  empty?: ReactNode;
  head: ReactNode;
  labelledBy?: string;
  children: (row: T) => ReactNode;
}) {
  return (
    <>
      <QueryStatus query={query} what={what} />
      {rows &&
        (rows.length === 0 && empty ? (
          <p className="muted">{empty}</p>
        ) : (
          <div className="table-scroll">
            <table aria-labelledby={labelledBy}>
              <thead>
                <tr>{head}</tr>
              </thead>
              <tbody>{rows.map((row) => children(row))}</tbody>
            </table>
          </div>
        ))}
    </>
  );
}

/** What `LoadMore` needs of a react-query infinite query. */
interface PagedQuery {
  hasNextPage: boolean;
  isFetchingNextPage: boolean;
  isFetchNextPageError: boolean;
  error: unknown;
  fetchNextPage: () => Promise<unknown>;
}

/** A button for the next page while there is one, and the error when fetching it failed. */
export function LoadMore({ query, label = "Load more" }: { query: PagedQuery; label?: string }) {
  return (
    <>
      {query.hasNextPage && (
        <p>
          <button
            type="button"
            onClick={() => void query.fetchNextPage()}
            disabled={query.isFetchingNextPage}
          >
            {query.isFetchingNextPage ? "Loading…" : label}
          </button>
        </p>
      )}
      {query.isFetchNextPageError && <ErrorMessage error={query.error} />}
    </>
  );
}
