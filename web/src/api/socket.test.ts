import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { CLOSE_NORMAL, CLOSE_POLICY_VIOLATION } from "./generated/closeCodes.ts";
import { openReconnectingSocket, type SocketStatus } from "./socket.ts";

/** Just enough of a WebSocket for the reconnect logic: the test closes it by hand. */
class FakeWebSocket {
  static OPEN = 1;
  static opened: FakeWebSocket[] = [];
  readyState = 0;
  binaryType = "blob";
  onopen: (() => void) | null = null;
  onmessage: ((event: MessageEvent) => void) | null = null;
  onclose: ((event: CloseEvent) => void) | null = null;
  readonly url: string;
  constructor(url: string) {
    this.url = url;
    FakeWebSocket.opened.push(this);
  }
  send(): void {}
  close(): void {}
  serverCloses(code: number, reason: string): void {
    this.onclose?.({ code, reason } as CloseEvent);
  }
}

beforeEach(() => {
  FakeWebSocket.opened = [];
  vi.stubGlobal("WebSocket", FakeWebSocket);
  vi.useFakeTimers();
});

afterEach(() => {
  vi.useRealTimers();
  vi.unstubAllGlobals();
});

describe("openReconnectingSocket", () => {
  it("stops for good on a bad parameter (1008) and keeps the server's reason", () => {
    const statuses: SocketStatus[] = [];
    const socket = openReconnectingSocket({
      url: () => "/api/v1/sessions/ses_1/events/ws?after=-1",
      onFrame: () => {},
      onStatus: (status) => statuses.push(status),
    });
    const reason = "invalid query parameter 'after': Input should be greater than or equal to 0";
    FakeWebSocket.opened[0]!.serverCloses(CLOSE_POLICY_VIOLATION, reason);
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.opened).toHaveLength(1);
    expect(statuses.at(-1)).toEqual({ state: "closed", code: 1008, reason });
    socket.close();
  });

  it("reconnects after a normal close (1000), which ends only a terminal for good", () => {
    const socket = openReconnectingSocket({
      url: () => "/api/v1/live/ws",
      onFrame: () => {},
      onStatus: () => {},
    });
    FakeWebSocket.opened[0]!.serverCloses(CLOSE_NORMAL, "");
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.opened).toHaveLength(2);
    socket.close();
  });

  it("reconnects after a close that retrying can help (1013)", () => {
    const statuses: SocketStatus[] = [];
    const socket = openReconnectingSocket({
      url: () => "/api/v1/live/ws",
      onFrame: () => {},
      onStatus: (status) => statuses.push(status),
    });
    FakeWebSocket.opened[0]!.serverCloses(1013, "try again");
    expect(statuses.at(-1)?.state).toBe("reconnecting");
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.opened).toHaveLength(2);
    socket.close();
  });
});
