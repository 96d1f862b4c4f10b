import { describe, expect, it } from "vitest";

import { MAX_PAGES, fetchAllPages } from "./paging.ts";

describe("fetchAllPages", () => {
  it("stops at MAX_PAGES when a list keeps saying there is more", async () => {
    let read = 0;
    const items = await fetchAllPages(async () => {
      read += 1;
      return { items: [read], next_cursor: `after-${read}` };
    });
    expect(read).toBe(MAX_PAGES);
    expect(items).toHaveLength(MAX_PAGES);
  });
});
