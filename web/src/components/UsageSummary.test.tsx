import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { eventMaker, fold } from "./chat/fixtures.ts";
import { UsageSummary } from "./UsageSummary.tsx";

afterEach(cleanup);

describe("UsageSummary", () => {
  it("shows the context window, the cost and the last turn's tokens", () => {
    const e = eventMaker();
    const t = fold([
      e.update({
        sessionUpdate: "usage_update",
        used: 53_000,
        size: 200_000,
        cost: { amount: 1.234, currency: "USD" },
      }),
      e("turn_end", {
        prompt_id: "p",
        stop_reason: "end_turn",
        usage: {
          totalTokens: 14_000,
          inputTokens: 12_000,
          outputTokens: 2_000,
          cachedReadTokens: 9_000,
        },
      }),
    ]);
    render(<UsageSummary transcript={t} />);
    expect(screen.getByText("53K / 200K (27%)")).toBeTruthy();
    expect(screen.getByRole("meter")).toBeTruthy();
    expect(screen.getByText("$1.23")).toBeTruthy();
    expect(screen.getByText("12K in · 2K out · 9K cached")).toBeTruthy();
  });

  it("shows nothing when the agent reports nothing", () => {
    const e = eventMaker();
    const { container } = render(
      <UsageSummary transcript={fold([e("turn_end", { stop_reason: "end_turn", usage: null })])} />,
    );
    expect(container.innerHTML).toBe("");
  });
});
