// The JSON the control plane's API answers with (see docs/api.md and
// src/corral/control/schemas/). Datetimes are ISO 8601 strings in UTC.

export type IsoDateTime = string;

/** `{"error": {...}}`: the one shape of every error response. */
export interface ErrorBody {
  code: string;
  message: string;
  details: unknown;
}

/** One page of a list; pass `next_cursor` back as `cursor` for the next one (null: last page). */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface User {
  id: string;
  name: string;
  role: "owner" | "member" | (string & {});
  state: string;
  created_at: IsoDateTime;
}

export type NodeState =
  | "pending"
  | "provisioning"
  | "joining"
  | "ready"
  | "stale"
  | "draining"
  | "deleting"
  | "deleted"
  | "error";

export interface NodeUsage {
  load1?: number;
  [key: string]: unknown;
}

export interface Node {
  id: string;
  name: string;
  provider: string;
  state: NodeState;
  state_reason: string | null;
  state_changed_at: IsoDateTime;
  agent_version: string | null;
  last_seen_at: IsoDateTime | null;
  capacity: { cpus?: number; [key: string]: unknown };
  usage: NodeUsage;
  connected: boolean;
  created_at: IsoDateTime;
}

export type WorkspaceState =
  | "pending"
  | "creating"
  | "running"
  | "stopping"
  | "stopped"
  | "starting"
  | "deleting"
  | "deleted"
  | "error";

export interface Workspace {
  id: string;
  name: string;
  project_id: string | null;
  node_id: string | null;
  branch: string;
  runtime: string;
  state: WorkspaceState;
  state_reason: string | null;
  state_changed_at: IsoDateTime;
  created_at: IsoDateTime;
}

export type SessionState =
  | "starting"
  | "idle"
  | "running"
  | "awaiting_permission"
  | "stopped"
  | "error";

export const ACTIVE_SESSION_STATES: readonly SessionState[] = [
  "starting",
  "idle",
  "running",
  "awaiting_permission",
];

export type Policy = "ask" | "allow-reads" | "allow-edits" | "allow-all" | (string & {});

export interface Session {
  id: string;
  workspace_id: string | null;
  project_id: string | null;
  agent: string;
  title: string | null;
  policy: Policy;
  state: SessionState;
  state_reason: string | null;
  state_changed_at: IsoDateTime;
  acp_session_id: string | null;
  model: string | null;
  mode: string | null;
  last_seq: number;
  last_message: string | null;
  usage: Record<string, unknown> | null;
  agent_info: Record<string, unknown> | null;
  created_at: IsoDateTime;
  updated_at: IsoDateTime;
}

export interface PromptAccepted {
  prompt_id: string;
  /** Prompts waiting before this one; 0 when it runs now. */
  queued: number;
}

export type SessionEventKind =
  | "update"
  | "prompt"
  | "turn_end"
  | "permission_request"
  | "permission_decision"
  | "terminal"
  | "state"
  | "install"
  | "notice"
  | (string & {});

export interface SessionEvent {
  seq: number;
  kind: SessionEventKind;
  payload: Record<string, unknown>;
  at: IsoDateTime;
}

/** `GET /sessions/{id}/events`. */
export interface EventPage {
  items: SessionEvent[];
  /** The session's newest event number. */
  last_seq: number;
}

/** A text frame of `/sessions/{id}/events/ws`. */
export interface EventsFrame {
  type: "events";
  events: (SessionEvent & { session_id?: string })[];
}

// ACP shapes carried inside events and permission requests. Agents send more than these fields,
// and anything may be missing, so every field is optional.

export type PermissionOptionKind =
  | "allow_once"
  | "allow_always"
  | "reject_once"
  | "reject_always"
  | (string & {});

export interface PermissionOption {
  optionId: string;
  name?: string;
  kind?: PermissionOptionKind;
}

export interface AcpToolCall {
  toolCallId?: string;
  title?: string | null;
  kind?: string | null;
  status?: string | null;
  content?: AcpToolCallContent[] | null;
  locations?: { path?: string; line?: number | null }[] | null;
  rawInput?: unknown;
  rawOutput?: unknown;
}

export type AcpToolCallContent =
  | { type: "content"; content?: AcpContentBlock }
  | { type: "diff"; path?: string; oldText?: string | null; newText?: string }
  | { type: "terminal"; terminalId?: string }
  | { type: string; [key: string]: unknown };

export interface AcpContentBlock {
  type?: string;
  text?: string;
  name?: string;
  uri?: string;
  [key: string]: unknown;
}

export interface PermissionRequest {
  id: string;
  session_id: string;
  state: "pending" | "answered" | "cancelled" | (string & {});
  tool_call: AcpToolCall;
  options: PermissionOption[];
  option_id: string | null;
  decided_by: string | null;
  policy: string | null;
  created_at: IsoDateTime;
  decided_at: IsoDateTime | null;
}

export interface Activity {
  id: number;
  actor_id: string | null;
  action: string;
  object_type: string;
  object_id: string;
  object_name: string | null;
  details: Record<string, unknown>;
  created_at: IsoDateTime;
}

export interface Project {
  id: string;
  name: string;
  repo: string;
  default_branch: string;
  env: Record<string, string>;
  created_at: IsoDateTime;
  updated_at: IsoDateTime;
}

export type CredentialKind =
  | "anthropic"
  | "openai"
  | "gemini"
  | "hetzner"
  | "github"
  | "ssh-key"
  | "env"
  | (string & {});

export interface Credential {
  id: string;
  name: string;
  kind: CredentialKind;
  last4: string;
  created_at: IsoDateTime;
  updated_at: IsoDateTime;
  last_used_at: IsoDateTime | null;
}
