import { describe, expect, it } from "vitest";

import { formatDuration } from "./time.ts";

describe("formatDuration", () => {
  it("shows minutes and seconds", () => {
    expect(formatDuration(125_000)).toBe("2m 5s");
  });
});
