import type { Workspace } from "../../api/types.ts";
import { useNow } from "../../hooks/useNow.ts";
import { formatAbsolute, parseTime } from "../../lib/time.ts";

/** "12 min", "1 h 5 min", "42 s": how long until a workspace stops. */
export function formatCountdown(ms: number): string {
  const s = Math.max(0, Math.ceil(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.ceil(s / 60);
  if (m < 60) return `${m} min`;
  const h = Math.floor(m / 60);
  return m % 60 ? `${h} h ${m % 60} min` : `${h} h`;
}

const HOLDS: Record<string, string> = {
  agent_working: "kept running while an agent works",
  permission_waiting: "kept running while a permission request waits",
};

const SOURCES: Record<Workspace["idle_timeout_source"], string> = {
  workspace: "this workspace",
  project: "its project",
  default: "the control plane's default",
};

type Idle = Pick<
  Workspace,
  "state" | "idle_stop_at" | "idle_timeout_minutes" | "idle_timeout_source" | "idle_hold"
>;

function Countdown({ stopAt }: { stopAt: string }) {
  const left = parseTime(stopAt) - useNow(1000);
  return (
    <time dateTime={stopAt} title={`at ${formatAbsolute(stopAt)} if nothing happens until then`}>
      {left > 0 ? `stops in ${formatCountdown(left)} when idle` : "stopping: idle"}
    </time>
  );
}

/**
 * What the idle policy will do with a running workspace: "stops in 12 min when idle" (counting
 * down, and moving when someone types, watches or an agent works), or why it is kept running.
 * Nothing for a workspace that is not running.
 */
export function IdleCountdown({ workspace }: { workspace: Idle }) {
  if (workspace.state !== "running") return null;
  let text;
  if (workspace.idle_timeout_minutes === null) {
    const by = SOURCES[workspace.idle_timeout_source];
    text = <span title={`Never stopped when idle, as ${by} says`}>kept running</span>;
  } else if (workspace.idle_stop_at === null) {
    text = HOLDS[workspace.idle_hold ?? ""] ?? "kept running";
  } else {
    text = <Countdown stopAt={workspace.idle_stop_at} />;
  }
  return <span className="muted idle-countdown">{text}</span>;
}
