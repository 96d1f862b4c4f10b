import { act, cleanup, render, screen } from "@testing-library/react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { IdleCountdown, formatCountdown } from "./IdleCountdown.tsx";

const NOW = Date.parse("2025-01-01T12:00:00Z");
const running = {
  state: "running" as const,
  idle_stop_at: "2025-01-01T12:12:00Z",
  idle_timeout_minutes: 30,
  idle_timeout_source: "project" as const,
  idle_hold: null,
};

beforeEach(() => {
  vi.useFakeTimers();
  vi.setSystemTime(NOW);
});
afterEach(() => {
  cleanup();
  vi.useRealTimers();
});

describe("IdleCountdown", () => {
  it("counts down to the idle stop, and follows a deadline that moves", () => {
    const { rerender } = render(<IdleCountdown workspace={running} />);
    expect(screen.getByText("stops in 12 min when idle")).toBeTruthy();
    act(() => vi.advanceTimersByTime(11 * 60_000 + 30_000));
    expect(screen.getByText("stops in 30 s when idle")).toBeTruthy();
    // Someone typed: the control plane moved the deadline.
    rerender(<IdleCountdown workspace={{ ...running, idle_stop_at: "2025-01-01T12:41:30Z" }} />);
    expect(screen.getByText("stops in 30 min when idle")).toBeTruthy();
  });

  it("says why a workspace is kept running", () => {
    const { rerender } = render(
      <IdleCountdown workspace={{ ...running, idle_stop_at: null, idle_timeout_minutes: null }} />,
    );
    expect(screen.getByText("kept running").getAttribute("title")).toBe(
      "Never stopped when idle, as its project says",
    );
    rerender(
      <IdleCountdown workspace={{ ...running, idle_stop_at: null, idle_hold: "agent_working" }} />,
    );
    expect(screen.getByText("kept running while an agent works")).toBeTruthy();
    rerender(<IdleCountdown workspace={{ ...running, state: "stopped", idle_stop_at: null }} />);
    expect(screen.queryByText(/stops|kept/)).toBeNull();
  });

  it("reads as people say it", () => {
    expect(formatCountdown(42_000)).toBe("42 s");
    expect(formatCountdown(61_000)).toBe("2 min");
    expect(formatCountdown(90 * 60_000)).toBe("1 h 30 min");
    expect(formatCountdown(120 * 60_000)).toBe("2 h");
    expect(formatCountdown(-5)).toBe("0 s");
  });
});
