import { cleanup, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import type { Node } from "../../api/types.ts";
import { mockApi, page, renderPage } from "../../testing/api.tsx";
import { agent, readyNode } from "../../testing/fixtures.ts";
import { AgentsSection } from "./AgentsSection.tsx";

const gemini = agent({
  name: "gemini",
  title: "Gemini CLI",
  package: "@google/gemini-cli",
  version: "0.61.0",
  command: ["gemini", "--acp"],
  credential_kinds: ["gemini-api-key"],
  endpoint: false,
});

function node(name: string, agents: string[]): Node {
  return readyNode({ id: `nod_${name}`, name, usage: { load1: 0.1, agents } });
}

afterEach(cleanup);

describe("AgentsSection", () => {
  it("says which nodes have a catalog agent's version installed", async () => {
    mockApi({
      "GET /agents": { body: [gemini] },
      "GET /nodes": page([
        node("laptop", ["@google/gemini-cli@0.61.0"]),
        node("server", ["@google/gemini-cli@0.60.0"]),
      ]),
    });
    renderPage(<AgentsSection />);
    expect(await screen.findByText(/installed on laptop;/)).toBeTruthy();
    expect(screen.queryByText(/server/)).toBeNull();
  });
});
