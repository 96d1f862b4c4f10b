import { describe, expect, it } from "vitest";

import { describeLimits, formatBytes, parseBytes } from "./sizes.ts";

const GIB = 2 ** 30;

describe("parseBytes", () => {
  it("reads memory as people write it, one letter binary as Docker does", () => {
    expect(parseBytes("2g")).toBe(2 * GIB);
    expect(parseBytes("512m")).toBe(512 * 2 ** 20);
    expect(parseBytes("1.5 GiB")).toBe(1.5 * GIB);
    expect(parseBytes("2GB")).toBe(2_000_000_000);
    expect(parseBytes("1048576")).toBe(2 ** 20);
  });

  it("reads what formatBytes writes", () => {
    expect(parseBytes(formatBytes(3 * GIB))).toBe(3 * GIB);
  });

  it("says null to anything else", () => {
    for (const text of ["", "lots", "-1g", "2 gigs"]) expect(parseBytes(text)).toBeNull();
  });
});

describe("describeLimits", () => {
  it("names what is set, or says what applies instead", () => {
    expect(describeLimits({ cpus: 2, memory_bytes: 4 * GIB, pids: 512 }, "none")).toBe(
      "2 CPUs, 4 GiB of memory, 512 processes",
    );
    expect(describeLimits({ cpus: 1, memory_bytes: null, pids: null }, "none")).toBe("1 CPU");
    expect(describeLimits({}, "the node's defaults")).toBe("the node's defaults");
  });
});
