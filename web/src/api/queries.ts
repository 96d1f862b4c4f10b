// react-query hooks over the API (client.ts: typed by the OpenAPI document). Lists are refetched when the live connection says they
// changed (api/live.ts), and poll every POLL_MS only while it is down.

import {
  QueryCache,
  QueryClient,
  MutationCache,
  useInfiniteQuery,
  useMutation,
  useQuery,
  useQueryClient,
} from "@tanstack/react-query";

import { api, data, isApiError } from "./client.ts";
import { isLive } from "./live.ts";
import { fetchAllPages, type PageQuery } from "./paging.ts";
import { optionsOf, type ToolCallUpdateSent } from "../lib/acpPayload.ts";
import { parseTime } from "../lib/time.ts";
import { ACTIVE_SESSION_STATES, type Page, type PermissionRequest } from "./types.ts";

export const POLL_MS = 2000;

/** `refetchInterval` for lists the live connection keeps fresh: poll only while it is down. */
export const pollUnlessLive = () => (isLive() ? false : POLL_MS);

export const keys = {
  me: ["me"] as const,
  nodes: ["nodes"] as const,
  // Under `nodes`, so that a change to a node (a notice, a mutation) refreshes them too.
  costs: ["nodes", "costs"] as const,
  providers: ["providers"] as const,
  defaultNode: ["providers", "default-node"] as const,
  providerOffer: (provider: string, credential: string | null) =>
    ["providers", provider, "offer", credential] as const,
  workspaces: ["workspaces"] as const,
  activeSessions: ["sessions", "active"] as const,
  session: (id: string) => ["sessions", "one", id] as const,
  permissionRequests: ["permission-requests"] as const,
  activity: (limit: number) => ["activity", limit] as const,
  projects: ["projects"] as const,
  credentials: ["credentials"] as const,
  allCredentials: ["credentials", "all"] as const,
  agents: ["agents"] as const,
  agentSettings: (agent: string, project: string | null) =>
    ["agents", "settings", agent, project] as const,
  tokens: ["tokens"] as const,
  users: ["users"] as const,
  invites: ["users", "invites"] as const,
  project: (ref: string) => ["projects", "one", ref] as const,
  projectWorkspaces: (ref: string) => ["workspaces", "project", ref] as const,
  projectSessions: (ref: string) => ["sessions", "project", ref] as const,
  workspace: (id: string) => ["workspaces", "one", id] as const,
  workspaceLog: (id: string) => ["workspaces", "log", id] as const,
  workspaceSessions: (id: string) => ["sessions", "workspace", id] as const,
  terminals: (workspace: string) => ["terminals", workspace] as const,
};

export function makeQueryClient(): QueryClient {
  // A 401 from any call means the browser session ended: ask `/me` again, which shows the
  // signed-out screen.
  const onError = (error: unknown, key?: readonly unknown[]) => {
    if (isApiError(error) && error.isUnauthenticated && key?.[0] !== keys.me[0]) {
      void client.invalidateQueries({ queryKey: keys.me });
    }
  };
  const client: QueryClient = new QueryClient({
    queryCache: new QueryCache({ onError: (error, query) => onError(error, query.queryKey) }),
    mutationCache: new MutationCache({ onError: (error) => onError(error) }),
    defaultOptions: {
      queries: {
        staleTime: 1000,
        // A 4xx will not change by asking again; network errors and 5xx may.
        retry: (count, error) =>
          !(isApiError(error) && error.status >= 400 && error.status < 500) && count < 2,
      },
      mutations: { retry: false },
    },
  });
  return client;
}

export function useMe() {
  return useQuery({
    queryKey: keys.me,
    queryFn: ({ signal }) => data(api.GET("/api/v1/me", { signal })),
  });
}

export function useLogout() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => data(api.POST("/api/v1/auth/logout")),
    onSettled: () => {
      client.removeQueries({ predicate: (q) => q.queryKey[0] !== keys.me[0] });
      void client.invalidateQueries({ queryKey: keys.me });
    },
  });
}

export function useWorkspaces() {
  return useQuery({
    queryKey: keys.workspaces,
    queryFn: ({ signal }) =>
      data(api.GET("/api/v1/workspaces", { params: { query: { limit: 200 } }, signal })),
    refetchInterval: pollUnlessLive,
  });
}

/** How long a failed session stays on the dashboard, for someone to look at it. */
export const RECENT_ERROR_MS = 24 * 60 * 60 * 1000;

/** Sessions that run or wait, and those that failed in the last day: the dashboard's list. */
export function useActiveSessions() {
  return useQuery({
    queryKey: keys.activeSessions,
    queryFn: async ({ signal }) => {
      const page = await data(
        api.GET("/api/v1/sessions", {
          params: { query: { state: [...ACTIVE_SESSION_STATES, "error"], limit: 200 } },
          signal,
        }),
      );
      const since = Date.now() - RECENT_ERROR_MS;
      const items = page.items.filter(
        (s) => s.state !== "error" || parseTime(s.state_changed_at) >= since,
      );
      return { ...page, items };
    },
    refetchInterval: pollUnlessLive,
  });
}

export function useSession(id: string) {
  return useQuery({
    queryKey: keys.session(id),
    queryFn: ({ signal }) =>
      data(api.GET("/api/v1/sessions/{session}", { params: { path: { session: id } }, signal })),
    refetchInterval: pollUnlessLive,
  });
}

export function usePermissionRequests() {
  return useQuery({
    queryKey: keys.permissionRequests,
    queryFn: async ({ signal }): Promise<Page<PermissionRequest>> => {
      const page = await data(
        api.GET("/api/v1/permission-requests", { params: { query: { limit: 200 } }, signal }),
      );
      // The tool call and the options are the agent's own JSON, read as ACP's shapes.
      const items = page.items.map((r) => ({
        ...r,
        tool_call: r.tool_call as ToolCallUpdateSent,
        options: optionsOf(r.options),
      }));
      return { ...page, items };
    },
    refetchInterval: pollUnlessLive,
  });
}

export function useActivity(limit = 20) {
  return useQuery({
    queryKey: keys.activity(limit),
    queryFn: ({ signal }) =>
      data(api.GET("/api/v1/activity", { params: { query: { limit } }, signal })),
    refetchInterval: pollUnlessLive,
  });
}

/** Every page of a list, fetched one `cursor` at a time as the user asks for more. */
function usePagedList<T>(
  queryKey: readonly unknown[],
  fetchPage: (page: PageQuery, signal: AbortSignal) => Promise<Page<T>>,
) {
  return useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam, signal }) => fetchPage({ cursor: pageParam, limit: 50 }, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
    select: (data) => data.pages.flatMap((p) => p.items),
  });
}

export const useProjects = () =>
  usePagedList(keys.projects, (page, signal) =>
    data(api.GET("/api/v1/projects", { params: { query: page }, signal })),
  );

const listCredentials = (page: PageQuery, signal?: AbortSignal) =>
  data(api.GET("/api/v1/credentials", { params: { query: page }, signal }));

export const useCredentials = () => usePagedList(keys.credentials, listCredentials);

/** Every credential, for a picker (and for telling whether a name is taken). */
export function useAllCredentials() {
  return useQuery({
    queryKey: keys.allCredentials,
    queryFn: ({ signal }) => fetchAllPages(listCredentials, signal),
  });
}

export function useAnswerPermission() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ requestId, optionId }: { requestId: string; optionId: string | null }) =>
      data(
        api.POST("/api/v1/permission-requests/{request}/answer", {
          params: { path: { request: requestId } },
          // No option cancels the request.
          body: optionId === null ? {} : { option_id: optionId },
        }),
      ),
    onSettled: () => {
      void client.invalidateQueries({ queryKey: keys.permissionRequests });
      void client.invalidateQueries({ queryKey: ["sessions"] });
    },
  });
}

export function useSendPrompt(sessionId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (text: string) =>
      data(
        api.POST("/api/v1/sessions/{session}/prompts", {
          params: { path: { session: sessionId } },
          body: { text },
        }),
      ),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.session(sessionId) }),
  });
}

export function useCancelSession(sessionId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () =>
      data(
        api.POST("/api/v1/sessions/{session}/cancel", { params: { path: { session: sessionId } } }),
      ),
    onSuccess: (session) => client.setQueryData(keys.session(sessionId), session),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.permissionRequests }),
  });
}

// Settings and projects.

import type {
  AgentSettingsUpdate,
  CredentialSet,
  ProjectCreate,
  ProjectUpdate,
  SessionCreate,
  WorkspaceCreate,
} from "./types.ts";

/** Mutations whose answer holds a secret shown once: dropped from the cache as soon as unused. */
export const SECRET_MUTATION = { gcTime: 0 } as const;

export function useSetCredential() {
  const client = useQueryClient();
  return useMutation({
    ...SECRET_MUTATION, // its variables hold the value
    mutationFn: ({ name, ...body }: { name: string } & CredentialSet) =>
      // Creates (201) or replaces (200) the credential; answers metadata only.
      data(api.PUT("/api/v1/credentials/{name}", { params: { path: { name } }, body })),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.credentials }),
  });
}

export function useDeleteCredential() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (name: string) =>
      data(api.DELETE("/api/v1/credentials/{name}", { params: { path: { name } } })),
    onSettled: () => {
      void client.invalidateQueries({ queryKey: keys.credentials });
      void client.invalidateQueries({ queryKey: keys.agents });
    },
  });
}

export function useAgents() {
  return useQuery({
    queryKey: keys.agents,
    queryFn: ({ signal }) => data(api.GET("/api/v1/agents", { signal })),
  });
}

export function useAddAgent() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ name, command }: { name: string; command: string[] }) =>
      data(api.POST("/api/v1/agents", { body: { name, command } })),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.agents }),
  });
}

export function useRemoveAgent() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (name: string) =>
      data(api.DELETE("/api/v1/agents/{agent}", { params: { path: { agent: name } } })),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.agents }),
  });
}

/** `project` (name or id) for a project's settings; null for yours. */
export function useAgentSettings(agent: string, project: string | null = null) {
  return useQuery({
    queryKey: keys.agentSettings(agent, project),
    queryFn: ({ signal }) =>
      data(
        api.GET("/api/v1/agents/{agent}/settings", {
          params: { path: { agent }, query: { project } },
          signal,
        }),
      ),
  });
}

export function useUpdateAgentSettings(agent: string, project: string | null = null) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: AgentSettingsUpdate) =>
      data(
        api.PATCH("/api/v1/agents/{agent}/settings", {
          params: { path: { agent } },
          body: project ? { ...body, project } : body,
        }),
      ),
    onSuccess: (settings) => client.setQueryData(keys.agentSettings(agent, project), settings),
    // A change to your settings shows through every project's.
    onSettled: () =>
      void client.invalidateQueries({ queryKey: ["agents", "settings", agent] as const }),
  });
}

export const useTokens = () =>
  usePagedList(keys.tokens, (page, signal) =>
    data(api.GET("/api/v1/tokens", { params: { query: page }, signal })),
  );

export function useCreateToken() {
  const client = useQueryClient();
  return useMutation({
    ...SECRET_MUTATION,
    mutationFn: (name: string) => data(api.POST("/api/v1/tokens", { body: { name } })),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.tokens }),
  });
}

export function useRevokeToken() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (id: string) =>
      data(api.DELETE("/api/v1/tokens/{token_id}", { params: { path: { token_id: id } } })),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.tokens }),
  });
}

/** Owner only (403 for anyone else). */
export const useUsers = () =>
  usePagedList(keys.users, (page, signal) =>
    data(api.GET("/api/v1/users", { params: { query: page }, signal })),
  );

export function useCreateInvite() {
  const client = useQueryClient();
  return useMutation({
    ...SECRET_MUTATION,
    mutationFn: (name: string) => data(api.POST("/api/v1/users/invites", { body: { name } })),
    // The users and the pending invites alike.
    onSettled: () => void client.invalidateQueries({ queryKey: keys.users }),
  });
}

/** Disable or enable a member (owner only); answers the user and their sessions. */
export function useSetUserEnabled() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ user, enabled }: { user: string; enabled: boolean }) =>
      // Disabling stops their tokens, browser sessions and sockets at once, and their agents.
      data(
        enabled
          ? api.POST("/api/v1/users/{user_ref}/enable", { params: { path: { user_ref: user } } })
          : api.POST("/api/v1/users/{user_ref}/disable", { params: { path: { user_ref: user } } }),
      ),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.users }),
  });
}

/** Owner only: invites not yet accepted. */
export const useInvites = () =>
  usePagedList(keys.invites, (page, signal) =>
    data(api.GET("/api/v1/users/invites", { params: { query: page }, signal })),
  );

export function useRevokeInvite() {
  const client = useQueryClient();
  return useMutation({
    // Answers the invite, now revoked: its link signs nobody in.
    mutationFn: (id: string) =>
      data(api.DELETE("/api/v1/users/invites/{invite}", { params: { path: { invite: id } } })),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.users }),
  });
}

export function useCreateProject() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: ProjectCreate) => data(api.POST("/api/v1/projects", { body })),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.projects }),
  });
}

/** One project by name or id; none asked for while `ref` is null. */
export function useProject(ref: string | null) {
  return useQuery({
    queryKey: keys.project(ref ?? ""),
    queryFn: ({ signal }) =>
      data(
        api.GET("/api/v1/projects/{project}", { params: { path: { project: ref ?? "" } }, signal }),
      ),
    enabled: ref !== null,
  });
}

export function useUpdateProject(ref: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: ProjectUpdate) =>
      data(api.PATCH("/api/v1/projects/{project}", { params: { path: { project: ref } }, body })),
    onSuccess: (project) => {
      // Under every name the page may be opened with next, a rename included.
      for (const key of new Set([ref, project.id, project.name])) {
        client.setQueryData(keys.project(key), project);
      }
    },
    onSettled: () => void client.invalidateQueries({ queryKey: keys.projects }),
  });
}

export function useDeleteProject() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (ref: string) =>
      data(api.DELETE("/api/v1/projects/{project}", { params: { path: { project: ref } } })),
    onSuccess: (_, ref) => client.removeQueries({ queryKey: keys.project(ref) }),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.projects }),
  });
}

export function useProjectWorkspaces(ref: string) {
  return useQuery({
    queryKey: keys.projectWorkspaces(ref),
    queryFn: ({ signal }) =>
      data(
        api.GET("/api/v1/workspaces", { params: { query: { project: ref, limit: 200 } }, signal }),
      ),
    refetchInterval: pollUnlessLive,
  });
}

export function useCreateWorkspace() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: WorkspaceCreate) => data(api.POST("/api/v1/workspaces", { body })),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.workspaces }),
  });
}

/** A project's sessions in every state, newest first, a page at a time. */
export function useProjectSessions(ref: string) {
  return useInfiniteQuery({
    queryKey: keys.projectSessions(ref),
    queryFn: ({ pageParam, signal }) =>
      data(
        api.GET("/api/v1/sessions", {
          params: { query: { project: ref, cursor: pageParam, limit: 50 } },
          signal,
        }),
      ),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
    select: (data) => data.pages.flatMap((p) => p.items),
    refetchInterval: pollUnlessLive,
  });
}

// Workspaces, terminals and starting sessions.

export function useWorkspace(id: string) {
  return useQuery({
    queryKey: keys.workspace(id),
    queryFn: ({ signal }) =>
      data(
        api.GET("/api/v1/workspaces/{workspace}", { params: { path: { workspace: id } }, signal }),
      ),
    refetchInterval: pollUnlessLive,
  });
}

/** The provisioning log: read every second while `following` (git's progress is not pushed). */
export function useWorkspaceLog(id: string, following: boolean) {
  return useQuery({
    queryKey: keys.workspaceLog(id),
    queryFn: ({ signal }) =>
      data(
        api.GET("/api/v1/workspaces/{workspace}/log", {
          params: { path: { workspace: id } },
          signal,
        }),
      ),
    refetchInterval: following ? 1000 : false,
  });
}

/** Sessions started in the workspace, in every state, newest first. */
export function useWorkspaceSessions(id: string) {
  return useQuery({
    queryKey: keys.workspaceSessions(id),
    queryFn: ({ signal }) =>
      data(
        api.GET("/api/v1/sessions", { params: { query: { workspace: id, limit: 200 } }, signal }),
      ),
    refetchInterval: pollUnlessLive,
  });
}

export function useTerminals(workspace: string, enabled: boolean) {
  return useQuery({
    queryKey: keys.terminals(workspace),
    queryFn: ({ signal }) =>
      data(
        api.GET("/api/v1/workspaces/{workspace}/terminals", {
          params: { path: { workspace } },
          signal,
        }),
      ),
    enabled,
  });
}

export function useCreateTerminal(workspace: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (size: { cols: number; rows: number }) =>
      data(
        api.POST("/api/v1/workspaces/{workspace}/terminals", {
          params: { path: { workspace } },
          body: size,
        }),
      ),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.terminals(workspace) }),
  });
}

export function useDeleteTerminal(workspace: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (terminal: string) =>
      data(
        api.DELETE("/api/v1/workspaces/{workspace}/terminals/{terminal}", {
          params: { path: { workspace, terminal } },
        }),
      ),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.terminals(workspace) }),
  });
}

/** What `useWorkspaceAction` does: `rebuild-default` rebuilds with the node's default image. */
export type WorkspaceAction = "stop" | "start" | "delete" | "rebuild" | "rebuild-default";

/** Stop, start, rebuild or delete a workspace; the live connection brings the new state. */
export function useWorkspaceAction(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (action: WorkspaceAction): Promise<unknown> => {
      const params = { path: { workspace: id } };
      switch (action) {
        case "stop":
          return data(api.POST("/api/v1/workspaces/{workspace}/stop", { params }));
        case "start":
          return data(api.POST("/api/v1/workspaces/{workspace}/start", { params }));
        case "rebuild":
        case "rebuild-default":
          return data(
            api.POST("/api/v1/workspaces/{workspace}/rebuild", {
              params,
              body: { default_image: action === "rebuild-default" },
            }),
          );
        case "delete":
          return data(api.DELETE("/api/v1/workspaces/{workspace}", { params }));
      }
    },
    onSettled: () => {
      void client.invalidateQueries({ queryKey: keys.workspaces });
      void client.invalidateQueries({ queryKey: keys.workspaceLog(id) });
      void client.invalidateQueries({ queryKey: keys.terminals(id) });
    },
  });
}

export function useStartSession() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: SessionCreate) => data(api.POST("/api/v1/sessions", { body })),
    onSettled: () => void client.invalidateQueries({ queryKey: ["sessions"] }),
  });
}

export function useStopSession(sessionId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () =>
      data(
        api.POST("/api/v1/sessions/{session}/stop", { params: { path: { session: sessionId } } }),
      ),
    onSuccess: (session) => client.setQueryData(keys.session(sessionId), session),
  });
}

/** Switch the session's mode or model; the agent confirms with an update in the transcript. */
export function useSteerSession(sessionId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (change: { mode: string } | { model: string }) =>
      "mode" in change
        ? data(
            api.PUT("/api/v1/sessions/{session}/mode", {
              params: { path: { session: sessionId } },
              body: { mode: change.mode },
            }),
          )
        : data(
            api.PUT("/api/v1/sessions/{session}/model", {
              params: { path: { session: sessionId } },
              body: { model: change.model },
            }),
          ),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.session(sessionId) }),
  });
}
