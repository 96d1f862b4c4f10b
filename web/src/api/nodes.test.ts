import { describe, expect, it } from "vitest";

import { cloudNode, readyNode } from "../testing/fixtures.ts";
import { isSettling } from "./nodes.ts";

describe("isSettling", () => {
  it("follows a node a provider makes or removes, not one waiting for its join", () => {
    expect(isSettling(cloudNode({ state: "pending" }))).toBe(true);
    expect(isSettling(cloudNode({ state: "provisioning" }))).toBe(true);
    expect(isSettling(cloudNode({ state: "deleting" }))).toBe(true);
    expect(isSettling(readyNode({ state: "joining" }))).toBe(true);
    expect(isSettling(readyNode({ state: "pending" }))).toBe(false);
    expect(isSettling(cloudNode({ state: "ready" }))).toBe(false);
    expect(isSettling(cloudNode({ state: "error" }))).toBe(false);
  });
});
