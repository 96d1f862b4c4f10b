// Names for the API's JSON, from the types generated from the control plane's OpenAPI document
// (generated/openapi.ts; scripts/generate-web-api.sh). Datetimes are ISO 8601 strings in UTC.

import type { PermissionOption, ToolCallUpdateSent } from "../lib/acpPayload.ts";
import type { components } from "./generated/openapi.ts";

type Schemas = components["schemas"];

/** `{"error": {...}}`: the one shape of every error response. */
export type ErrorBody = Schemas["ErrorBody"];

/** One page of a list; pass `next_cursor` back as `cursor` for the next one (null: last page). */
export type Page<T> = Omit<Schemas["Page_WorkspacePublic_"], "items"> & { items: T[] };

export type User = Schemas["UserPublic"];
/** `GET /users/{name}`, and the answer to disabling or enabling one. */
export type UserDetail = Schemas["UserDetail"];
/** An invite (`GET /users/invites`): never its link, which only its creation answers. */
export type Invite = Schemas["InvitePublic"];
/** `POST /users/invites`: the invite and its single-use link, shown once. */
export type InviteCreated = Schemas["InviteCreated"];
export type ApiToken = Schemas["ApiTokenPublic"];
/** `POST /tokens`: the secret is in this response only. */
export type ApiTokenCreated = Schemas["ApiTokenCreated"];

export type Node = Schemas["NodePublic"];
/** How a node keeps workspaces from the machine and from each other (`capacity.isolation`). */
export type NodeIsolation = NonNullable<Node["capacity"]["isolation"]>;
/** `POST /nodes`: a manual node, or one a provider makes (`machine_type` and `region` for a
 * cloud, `ssh` for a server of yours), with your `credential` for it. */
export type NodeCreate = Schemas["NodeCreate"];
/** `POST /nodes`: the new node and, for a manual one, its single-use join token, shown once. */
export type NodeCreated = Schemas["NodeCreated"];
/** A step of making a node's machine and bootstrapping it (`bootstrap_log`). */
export type BootstrapLogLine = Schemas["BootstrapLogLine"];

/** `GET /providers`: one that makes nodes, of kind `manual`, `local`, `machine` (installs onto
 * a server you have, over SSH) or `cloud` (makes machines that cost money). */
export type Provider = Schemas["ProviderPublic"];
/** The node made for you when one of your workspaces finds no room. */
export type NodeTemplate = Schemas["NodeTemplate"];
/** `GET /providers/{name}/offer`: what a provider offers you, read with your credential. */
export type ProviderOffer = Schemas["ProviderOffer"];
/** A size; `prices` holds the price per hour in the regions where it differs. */
export type MachineType = Schemas["MachineTypePublic"];
export type Region = Schemas["RegionPublic"];
/** `GET /costs`: what one user's cloud nodes cost this month, in one currency. */
export type Spend = Schemas["SpendPublic"];

export type Workspace = Schemas["WorkspacePublic"];
export type WorkspaceCreate = Schemas["WorkspaceCreate"];
/** `GET /workspaces/{id}/log`: the recent provisioning log (git's progress). */
export type WorkspaceLog = Schemas["WorkspaceLog"];
export type TerminalInfo = Schemas["TerminalPublic"];

export type Policy = Schemas["Policy"];
export const POLICIES: readonly Policy[] = ["ask", "allow-reads", "allow-edits", "allow-all"];

export type SessionState = Schemas["SessionState"];
export const ACTIVE_SESSION_STATES: readonly SessionState[] = [
  "starting",
  "idle",
  "running",
  "awaiting_permission",
];
export type Session = Schemas["SessionPublic"];
/** `POST /sessions`: start an agent in a workspace. */
export type SessionCreate = Schemas["SessionCreate"];
/** A session's `context_usage`: the context window's use and size in tokens, and the cost. */
export type ContextUsage = Schemas["ContextUsage"];
/** A turn's token counts: a session's `turn_usage`, and what a `turn_end` event's `usage`
 * (ACP's names) reads as. */
export type TokenUsage = Schemas["TurnUsage"];
export type PromptAccepted = Schemas["PromptAccepted"];
export type SessionEvent = Schemas["SessionEventPublic"];
/** `GET /sessions/{id}/events`. */
export type EventPage = Schemas["EventPage"];

/** A permission request; `tool_call` and `options` are the agent's own ACP JSON, as it sent
 * them (any field may be missing). */
export type PermissionRequest = Omit<
  Schemas["PermissionRequestPublic"],
  "tool_call" | "options"
> & {
  tool_call: ToolCallUpdateSent;
  options: PermissionOption[];
};

export type Activity = Schemas["ActivityPublic"];
export type Project = Schemas["ProjectPublic"];
export type ProjectCreate = Schemas["ProjectCreate"];
export type ProjectUpdate = Schemas["ProjectUpdate"];

export type CredentialKind = Schemas["CredentialKind"];
/** In the order the credential form offers them. */
export const CREDENTIAL_KINDS: readonly CredentialKind[] = [
  "anthropic",
  "openai",
  "gemini",
  "github",
  "hetzner",
  "ssh-key",
  "env",
];
export type Credential = Schemas["CredentialPublic"];
/** `PUT /credentials/{name}`: the value goes in and never comes back. */
export type CredentialSet = Schemas["CredentialSet"];

/** An entry of the agent catalog (`GET /agents`): built in, or one of your own ACP commands. */
export type Agent = Schemas["AgentPublic"];
/** `GET /agents/{name}/settings`: what a session gets, the project's over yours over defaults. */
export type AgentSettings = Schemas["AgentSettingsPublic"];
/** One layer's own agent settings: null (`env` empty) where it leaves a field to the layer below. */
export type AgentSettingsLayer = Schemas["AgentSettingsLayer"];
/** A field `clear` unsets. */
export type AgentSettingsField = keyof AgentSettingsLayer;
/** `PATCH /agents/{name}/settings`: fields left out stay; `clear` unsets fields. */
export type AgentSettingsUpdate = Schemas["AgentSettingsUpdate"];

/** `GET /github`: whether GitHub is set up here (its App, sign-in) and your linked account. */
export type GitHubStatus = Schemas["GitHubStatus"];
/** `POST /github/app/manifest`: post `manifest` (as JSON, field `manifest`) to `url`. */
export type ManifestStart = Schemas["ManifestStart"];
/** A repository of the App's installations your GitHub account may use. */
export type GitHubRepository = Schemas["GitHubRepository"];
