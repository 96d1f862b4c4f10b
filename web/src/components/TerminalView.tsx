// One workspace terminal in xterm.js, attached over the terminal WebSocket (same origin: the
// browser session's cookie signs it in). Loaded lazily: xterm is most of a workspace page's code.
//
// The viewer protocol (corral.control.relay): binary frames are terminal bytes both ways, the
// first text frame is `{"type": "attached", "offset": N}` (where the replayed bytes start), and
// the viewer sends `{"type": "resize", "cols", "rows"}`. After a drop it reconnects from the byte
// after the last one shown, so nothing repeats; a fresh page load asks for everything kept, which
// replays the scrollback.

import "@xterm/xterm/css/xterm.css";

import { FitAddon } from "@xterm/addon-fit";
import { WebLinksAddon } from "@xterm/addon-web-links";
import { Terminal } from "@xterm/xterm";
import { useEffect, useRef, useState } from "react";

import { seg, wsUrl } from "../api/client.ts";
import { CLOSE_NORMAL, FINAL_CLOSE_CODES } from "../api/generated/closeCodes.ts";
import { openReconnectingSocket, type SocketStatus } from "../api/socket.ts";

interface AttachedFrame {
  type: "attached";
  offset: number;
}

function statusText(status: SocketStatus): string | null {
  switch (status.state) {
    case "live":
      return null;
    case "connecting":
      return "Connecting…";
    case "reconnecting":
      return "Connection lost: reconnecting…";
    case "closed":
      return status.code === CLOSE_NORMAL
        ? "The terminal has ended."
        : `Disconnected: ${status.reason || `code ${status.code}`}`;
  }
}

export default function TerminalView({
  workspaceId,
  terminalId,
  active,
}: {
  workspaceId: string;
  terminalId: string;
  /** Whether its tab is shown: a hidden terminal cannot be measured, so it fits when shown. */
  active: boolean;
}) {
  const container = useRef<HTMLDivElement>(null);
  const fitRef = useRef<(() => void) | null>(null);
  const [status, setStatus] = useState<SocketStatus>({ state: "connecting" });

  useEffect(() => {
    const element = container.current;
    if (element === null) return;
    const terminal = new Terminal({
      cursorBlink: true,
      fontFamily: "ui-monospace, SFMono-Regular, Menlo, Consolas, monospace",
      fontSize: 13,
      scrollback: 5000,
      theme: { background: "#111418" },
    });
    const fit = new FitAddon();
    terminal.loadAddon(fit);
    terminal.loadAddon(
      new WebLinksAddon((_event, uri) => window.open(uri, "_blank", "noopener,noreferrer")),
    );
    terminal.open(element);

    let base: number | null = null; // the byte offset of the first byte received
    let received = 0;
    const encoder = new TextEncoder();
    const socket = openReconnectingSocket({
      url: () =>
        wsUrl(
          `/workspaces/${seg(workspaceId)}/terminals/${seg(terminalId)}/ws`,
          base === null ? undefined : { offset: base + received },
        ),
      // The terminal exited or was deleted (a normal close), or it can never attach.
      finalCodes: FINAL_CLOSE_CODES,
      onStatus: setStatus,
      onFrame: (frame) => {
        const attached = frame as Partial<AttachedFrame>;
        if (attached.type === "attached" && typeof attached.offset === "number") {
          if (base === null) base = attached.offset;
          // After a reconnect the node may start later than asked (old bytes rolled out).
          else if (attached.offset > base + received) received = attached.offset - base;
          sendSize();
        }
      },
      onBinary: (data) => {
        received += data.byteLength;
        terminal.write(new Uint8Array(data));
      },
    });
    const sendSize = () =>
      socket.send(JSON.stringify({ type: "resize", cols: terminal.cols, rows: terminal.rows }));
    const input = terminal.onData((text) => socket.send(encoder.encode(text)));
    const binaryInput = terminal.onBinary((text) =>
      socket.send(Uint8Array.from(text, (c) => c.charCodeAt(0) & 0xff)),
    );
    const resized = terminal.onResize(() => sendSize());

    const refit = () => {
      if (element.offsetWidth > 0 && element.offsetHeight > 0) fit.fit();
    };
    fitRef.current = refit;
    const observer = new ResizeObserver(refit);
    observer.observe(element);
    refit();

    return () => {
      fitRef.current = null;
      observer.disconnect();
      input.dispose();
      binaryInput.dispose();
      resized.dispose();
      socket.close();
      terminal.dispose();
    };
  }, [workspaceId, terminalId]);

  useEffect(() => {
    if (active) fitRef.current?.();
  }, [active]);

  const note = statusText(status);
  return (
    <div className="terminal-view">
      {note !== null && (
        <p className="terminal-status muted" role="status">
          {note}
        </p>
      )}
      <div
        ref={container}
        className="terminal-screen"
        data-testid="terminal-screen"
        data-state={status.state}
      />
    </div>
  );
}
