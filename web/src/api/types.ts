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

/**
 * How a node keeps workspaces from the machine and from each other, as its heartbeat reports it
 * (`capacity.isolation`; corral.protocol.messages.NodeIsolation, docs/security.md).
 */
export interface NodeIsolation {
  sandbox: "bwrap" | "none" | (string & {});
  user: "workspace_uid" | "user_namespace" | "node_user" | (string & {});
  network: "isolated" | "host" | (string & {});
  file_access: "openat2" | (string & {});
  /** Why a piece is missing, in the node's words. */
  problems: string[];
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
  capacity: { cpus?: number; isolation?: NodeIsolation; [key: string]: unknown };
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
  "starting" | "idle" | "running" | "awaiting_permission" | "stopped" | "error";

export const ACTIVE_SESSION_STATES: readonly SessionState[] = [
  "starting",
  "idle",
  "running",
  "awaiting_permission",
];

export type Policy = "ask" | "allow-reads" | "allow-edits" | "allow-all" | (string & {});

/**
 * A turn's token counts: a session's `turn_usage`, and what a `turn_end` event's `usage`
 * (ACP's names) reads as.
 */
export interface TokenUsage {
  total_tokens: number | null;
  input_tokens: number | null;
  output_tokens: number | null;
  thought_tokens: number | null;
  cached_read_tokens: number | null;
  cached_write_tokens: number | null;
}

/** A session's `context_usage` (the agent's last `usage_update`): the context window's use
 * and size in tokens, and the session's cost. */
export interface ContextUsage {
  used: number | null;
  size: number | null;
  cost: { amount: number; currency: string } | null;
}

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
  /** The context window and cost, from the agent's last `usage_update`. */
  context_usage: ContextUsage | null;
  /** The token counts of the last turn that reported them. */
  turn_usage: TokenUsage | null;
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
  "allow_once" | "allow_always" | "reject_once" | "reject_always" | (string & {});

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
  "anthropic" | "openai" | "gemini" | "hetzner" | "github" | "ssh-key" | "env" | (string & {});

export interface Credential {
  id: string;
  name: string;
  kind: CredentialKind;
  last4: string;
  created_at: IsoDateTime;
  updated_at: IsoDateTime;
  last_used_at: IsoDateTime | null;
}

// Settings and projects (credentials, agents, nodes, tokens, users, projects, workspaces).

export const CREDENTIAL_KINDS: readonly CredentialKind[] = [
  "anthropic",
  "openai",
  "gemini",
  "github",
  "hetzner",
  "ssh-key",
  "env",
];

/** `PUT /credentials/{name}`: the value goes in and never comes back. */
export interface CredentialSet {
  kind: CredentialKind;
  value: string;
}

export const POLICIES: readonly Policy[] = ["ask", "allow-reads", "allow-edits", "allow-all"];

/** An entry of the agent catalog (`GET /agents`): built in, or one of your own ACP commands. */
export interface Agent {
  name: string;
  title: string;
  builtin: boolean;
  /** The npm package a node installs on first use; null for a command the node must have. */
  package: string | null;
  version: string | null;
  command: string[];
  /** Credential kinds the agent takes (an `env` credential fits any agent). */
  credential_kinds: string[];
  /** Whether an endpoint (LLM gateway) setting applies. */
  endpoint: boolean;
}

/** `GET /agents/{name}/settings`: what a session gets, the project's over yours over defaults. */
export interface AgentSettings {
  agent: string;
  project_id: string | null;
  credential: string | null;
  model: string | null;
  policy: Policy;
  endpoint: string | null;
  env: Record<string, string>;
  args: string[];
  /** What the asked layer (the project's with `?project=`, else yours) sets itself. */
  own: AgentSettingsLayer;
}

/** One layer's own agent settings: null (`env` empty) where it leaves a field to the layer below. */
export interface AgentSettingsLayer {
  credential: string | null;
  model: string | null;
  policy: Policy | null;
  endpoint: string | null;
  env: Record<string, string>;
  /** Null: not set; `[]`: set to none. */
  args: string[] | null;
}

export type AgentSettingsField = "credential" | "model" | "policy" | "endpoint" | "env" | "args";

/** `PATCH /agents/{name}/settings`: fields left out stay; `clear` unsets fields. */
export interface AgentSettingsUpdate {
  project?: string;
  credential?: string;
  model?: string;
  policy?: Policy;
  endpoint?: string;
  /** A JSON Merge Patch of the layer's variables: null removes one, names left out stay. */
  env?: Record<string, string | null>;
  args?: string[];
  clear?: AgentSettingsField[];
}

/** `POST /nodes`: the new node and its single-use join token, shown once. */
export interface NodeCreated {
  node: Node;
  join_token: string;
  join_command: string;
  expires_at: IsoDateTime;
}

export interface ApiToken {
  id: string;
  name: string;
  last4: string;
  created_at: IsoDateTime;
  last_used_at: IsoDateTime | null;
  revoked_at: IsoDateTime | null;
}

/** `POST /tokens`: the secret is in this response only. */
export interface ApiTokenCreated extends ApiToken {
  token: string;
}

/** Another user's agent session as the owner sees it: where it runs, never what it says. */
export interface UserSession {
  id: string;
  agent: string;
  state: SessionState;
  workspace: string | null;
  node: string | null;
  created_at: IsoDateTime;
  /** Why disabling its user could not stop it. */
  stop_error: string | null;
}

/** `GET /users/{name}`, and the answer to disabling or enabling one. */
export interface UserDetail extends User {
  /** Live sessions; after disabling, those that were live (stopped unless `stop_error`). */
  sessions: UserSession[];
}

/** An invite (`GET /users/invites`): never its link, which only its creation answers. */
export interface Invite {
  id: string;
  user: User;
  created_at: IsoDateTime;
  expires_at: IsoDateTime;
  revoked_at: IsoDateTime | null;
}

/** `POST /users/invites`: the invite and its single-use link, shown once. */
export interface InviteCreated extends Invite {
  invite_url: string;
}

export interface ProjectCreate {
  name: string;
  repo: string;
  /** The repository's default branch when left out. */
  default_branch?: string;
  env?: Record<string, string>;
}

export interface ProjectUpdate {
  name?: string;
  default_branch?: string;
  /** A JSON Merge Patch of the variables: null removes one, names left out stay. */
  env?: Record<string, string | null>;
}

export interface WorkspaceCreate {
  /** Project name or id. */
  project: string;
  name?: string;
  /** The project's default branch when left out. */
  branch?: string;
  /** Node name or id; the least busy ready node when left out. */
  node?: string;
}

// Workspaces, terminals and starting sessions.

/** `GET /workspaces/{id}/log`: the recent provisioning log (git's progress). */
export interface WorkspaceLog {
  lines: string[];
}

export interface TerminalInfo {
  id: string;
  workspace_id: string;
  cols: number;
  rows: number;
  created_at: IsoDateTime;
  last_attached_at: IsoDateTime | null;
  exited: boolean;
  exit_status: number | null;
  viewers: number;
}

/** `POST /sessions`: start an agent in a workspace. */
export interface SessionCreate {
  workspace: string;
  agent: string;
  policy?: Policy;
  title?: string;
}
