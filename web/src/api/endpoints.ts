// One typed function per API route the web app uses.

import { api, seg } from "./client.ts";
import type {
  Activity,
  Credential,
  EventPage,
  Node,
  Page,
  PermissionRequest,
  Project,
  PromptAccepted,
  Session,
  SessionState,
  User,
  Workspace,
} from "./types.ts";

export interface PageQuery {
  cursor?: string | null;
  limit?: number;
}

export const getMe = (signal?: AbortSignal) => api.get<User>("/me", undefined, signal);

export const logout = () => api.post<void>("/auth/logout");

export const listNodes = (page: PageQuery = {}, signal?: AbortSignal) =>
  api.get<Page<Node>>("/nodes", { ...page }, signal);

export const listWorkspaces = (page: PageQuery = {}, signal?: AbortSignal) =>
  api.get<Page<Workspace>>("/workspaces", { ...page }, signal);

export const listSessions = (
  filter: { state?: readonly SessionState[]; workspace?: string; project?: string } & PageQuery,
  signal?: AbortSignal,
) => api.get<Page<Session>>("/sessions", { ...filter }, signal);

export const getSession = (id: string, signal?: AbortSignal) =>
  api.get<Session>(`/sessions/${seg(id)}`, undefined, signal);

export const listSessionEvents = (
  id: string,
  after: number,
  limit?: number,
  signal?: AbortSignal,
) => api.get<EventPage>(`/sessions/${seg(id)}/events`, { after, limit }, signal);

export const sendPrompt = (id: string, text: string) =>
  api.post<PromptAccepted>(`/sessions/${seg(id)}/prompts`, { text });

export const cancelSession = (id: string) => api.post<Session>(`/sessions/${seg(id)}/cancel`);

export const listPermissionRequests = (page: PageQuery = {}, signal?: AbortSignal) =>
  api.get<Page<PermissionRequest>>("/permission-requests", { ...page }, signal);

/** Answer with one of the agent's options; `null` cancels the request. */
export const answerPermission = (id: string, optionId: string | null) =>
  api.post<PermissionRequest>(
    `/permission-requests/${seg(id)}/answer`,
    optionId === null ? {} : { option_id: optionId },
  );

export const listActivity = (page: PageQuery = {}, signal?: AbortSignal) =>
  api.get<Page<Activity>>("/activity", { ...page }, signal);

export const listProjects = (page: PageQuery = {}, signal?: AbortSignal) =>
  api.get<Page<Project>>("/projects", { ...page }, signal);

export const listCredentials = (page: PageQuery = {}, signal?: AbortSignal) =>
  api.get<Page<Credential>>("/credentials", { ...page }, signal);

// Settings and projects. Types imported here, not above, so that appending stays conflict-free.

import type {
  Agent,
  AgentSettings,
  AgentSettingsUpdate,
  ApiToken,
  ApiTokenCreated,
  CredentialSet,
  Invite,
  InviteCreated,
  NodeCreated,
  ProjectCreate,
  ProjectUpdate,
  UserDetail,
  WorkspaceCreate,
} from "./types.ts";

/** Creates (201) or replaces (200) the credential `name`; answers metadata only. */
export const setCredential = (name: string, body: CredentialSet) =>
  api.put<Credential>(`/credentials/${seg(name)}`, body);

export const deleteCredential = (name: string) => api.delete<void>(`/credentials/${seg(name)}`);

export const listAgents = (signal?: AbortSignal) => api.get<Agent[]>("/agents", undefined, signal);

export const addAgent = (name: string, command: readonly string[]) =>
  api.post<Agent>("/agents", { name, command });

export const removeAgent = (name: string) => api.delete<void>(`/agents/${seg(name)}`);

/** The settings a session gets: the project's (name or id) over yours over the catalog's. */
export const getAgentSettings = (name: string, project?: string | null, signal?: AbortSignal) =>
  api.get<AgentSettings>(`/agents/${seg(name)}/settings`, { project }, signal);

export const updateAgentSettings = (name: string, body: AgentSettingsUpdate) =>
  api.patch<AgentSettings>(`/agents/${seg(name)}/settings`, body);

/** Owner only; the answer carries the single-use join token and command, shown once. */
export const createNode = (name: string) => api.post<NodeCreated>("/nodes", { name });

/** Owner only, for a node still `pending`: a new join token and command, shown once; the
 * node's earlier tokens stop working. */
export const reissueJoinToken = (id: string) =>
  api.post<NodeCreated>(`/nodes/${seg(id)}/join-token`);

/** Owner only; answers the node, now `deleted`. */
export const deleteNode = (id: string) => api.delete<Node>(`/nodes/${seg(id)}`);

export const listTokens = (page: PageQuery = {}, signal?: AbortSignal) =>
  api.get<Page<ApiToken>>("/tokens", { ...page }, signal);

export const createToken = (name: string) => api.post<ApiTokenCreated>("/tokens", { name });

export const revokeToken = (id: string) => api.delete<ApiToken>(`/tokens/${seg(id)}`);

export const listUsers = (page: PageQuery = {}, signal?: AbortSignal) =>
  api.get<Page<User>>("/users", { ...page }, signal);

export const createInvite = (name: string) => api.post<InviteCreated>("/users/invites", { name });

/** Owner only: their tokens, browser sessions and sockets stop at once; their agents stop. */
export const disableUser = (ref: string) => api.post<UserDetail>(`/users/${seg(ref)}/disable`);

/** Owner only: the tokens and browser sessions they had work again. */
export const enableUser = (ref: string) => api.post<UserDetail>(`/users/${seg(ref)}/enable`);

/** Owner only: the invites not yet accepted, revoked or expired. */
export const listInvites = (page: PageQuery = {}, signal?: AbortSignal) =>
  api.get<Page<Invite>>("/users/invites", { ...page }, signal);

/** Owner only; answers the invite, now revoked: its link signs nobody in. */
export const revokeInvite = (id: string) => api.delete<Invite>(`/users/invites/${seg(id)}`);

export const createProject = (body: ProjectCreate) => api.post<Project>("/projects", body);

export const getProject = (ref: string, signal?: AbortSignal) =>
  api.get<Project>(`/projects/${seg(ref)}`, undefined, signal);

export const updateProject = (ref: string, body: ProjectUpdate) =>
  api.patch<Project>(`/projects/${seg(ref)}`, body);

export const deleteProject = (ref: string) => api.delete<void>(`/projects/${seg(ref)}`);

/** A project's workspaces (name or id). */
export const listProjectWorkspaces = (
  project: string,
  page: PageQuery = {},
  signal?: AbortSignal,
) => api.get<Page<Workspace>>("/workspaces", { project, ...page }, signal);

export const createWorkspace = (body: WorkspaceCreate) => api.post<Workspace>("/workspaces", body);

// Workspaces, terminals and starting sessions.

import type { SessionCreate, TerminalInfo, WorkspaceLog } from "./types.ts";

export const getWorkspace = (id: string, signal?: AbortSignal) =>
  api.get<Workspace>(`/workspaces/${seg(id)}`, undefined, signal);

export const getWorkspaceLog = (id: string, signal?: AbortSignal) =>
  api.get<WorkspaceLog>(`/workspaces/${seg(id)}/log`, undefined, signal);

export const stopWorkspace = (id: string) => api.post<Workspace>(`/workspaces/${seg(id)}/stop`);

export const startWorkspace = (id: string) => api.post<Workspace>(`/workspaces/${seg(id)}/start`);

export const deleteWorkspace = (id: string) => api.delete<void>(`/workspaces/${seg(id)}`);

export const listTerminals = (workspace: string, signal?: AbortSignal) =>
  api.get<TerminalInfo[]>(`/workspaces/${seg(workspace)}/terminals`, undefined, signal);

export const createTerminal = (workspace: string, size: { cols: number; rows: number }) =>
  api.post<TerminalInfo>(`/workspaces/${seg(workspace)}/terminals`, size);

export const deleteTerminal = (workspace: string, terminal: string) =>
  api.delete<void>(`/workspaces/${seg(workspace)}/terminals/${seg(terminal)}`);

export const startSession = (body: SessionCreate) => api.post<Session>("/sessions", body);

export const stopSession = (id: string) => api.post<Session>(`/sessions/${seg(id)}/stop`);

export const setSessionMode = (id: string, mode: string) =>
  api.put<Session>(`/sessions/${seg(id)}/mode`, { mode });

export const setSessionModel = (id: string, model: string) =>
  api.put<Session>(`/sessions/${seg(id)}/model`, { model });
