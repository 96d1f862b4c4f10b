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
