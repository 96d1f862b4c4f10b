// Every page of a list, for what must see all of it: a picker offers only what it has read, so
// the first page is not enough (a credential on the second page could not be chosen).

import type { Page } from "./types.ts";

/** Where a list's page starts (`next_cursor` of the one before; null: the first) and its size. */
export interface PageQuery {
  cursor?: string | null;
  limit?: number;
}

/** The API's largest page (`api.max_page_size`). */
export const PAGE_LIMIT = 200;

/** The most pages read for one list (5,000 items): a bound on a list gone wrong, not a limit a
 * real list reaches. */
export const MAX_PAGES = 25;

/** The items of every page `fetchPage` gives, following `next_cursor`, up to `maxPages`. */
export async function fetchAllPages<T>(
  fetchPage: (page: PageQuery, signal?: AbortSignal) => Promise<Page<T>>,
  signal?: AbortSignal,
  maxPages: number = MAX_PAGES,
): Promise<T[]> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let read = 0; read < maxPages; read++) {
    const page: Page<T> = await fetchPage({ cursor, limit: PAGE_LIMIT }, signal);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}
