import { cleanup, render, screen } from "@testing-library/react";
import { afterEach, describe, expect, it } from "vitest";

import { UsageSummary } from "./UsageSummary.tsx";

afterEach(cleanup);

describe("UsageSummary", () => {
  it("shows the context window, the cost and the last turn's tokens", () => {
    render(
      <UsageSummary
        context={{ used: 53_000, size: 200_000, cost: { amount: 1.234, currency: "USD" } }}
        turn={{
          total_tokens: 14_000,
          input_tokens: 12_000,
          output_tokens: 2_000,
          thought_tokens: null,
          cached_read_tokens: 9_000,
          cached_write_tokens: null,
        }}
      />,
    );
    expect(screen.getByText("53K / 200K (27%)")).toBeTruthy();
    expect(screen.getByRole("meter")).toBeTruthy();
    expect(screen.getByText("$1.23")).toBeTruthy();
    expect(screen.getByText("12K in · 2K out · 9K cached")).toBeTruthy();
  });

  it("shows the context without a turn, and a turn without a context", () => {
    const { rerender } = render(
      <UsageSummary context={{ used: 1_000, size: 10_000, cost: null }} turn={null} />,
    );
    expect(screen.getByText("1K / 10K (10%)")).toBeTruthy();
    expect(screen.queryByText("Last turn")).toBeNull();
    rerender(
      <UsageSummary
        context={null}
        turn={{
          total_tokens: 30,
          input_tokens: null,
          output_tokens: null,
          thought_tokens: null,
          cached_read_tokens: null,
          cached_write_tokens: null,
        }}
      />,
    );
    expect(screen.getByText("30 tokens")).toBeTruthy();
    expect(screen.queryByText("Context")).toBeNull();
  });

  it("shows nothing when the agent reports nothing", () => {
    const { container } = render(<UsageSummary context={null} turn={null} />);
    expect(container.innerHTML).toBe("");
  });
});
