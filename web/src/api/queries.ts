// react-query hooks over the endpoints. Lists poll every POLL_MS until live WebSocket updates
// replace the polling.

import {
  QueryCache,
  QueryClient,
  MutationCache,
  useInfiniteQuery,
  useMutation,
  useQuery,
  useQueryClient,
} from "@tanstack/react-query";

import { isApiError } from "./client.ts";
import * as endpoints from "./endpoints.ts";
import { ACTIVE_SESSION_STATES } from "./types.ts";

export const POLL_MS = 2000;

export const keys = {
  me: ["me"] as const,
  nodes: ["nodes"] as const,
  workspaces: ["workspaces"] as const,
  activeSessions: ["sessions", "active"] as const,
  session: (id: string) => ["sessions", "one", id] as const,
  permissionRequests: ["permission-requests"] as const,
  activity: (limit: number) => ["activity", limit] as const,
  projects: ["projects"] as const,
  credentials: ["credentials"] as const,
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
  return useQuery({ queryKey: keys.me, queryFn: ({ signal }) => endpoints.getMe(signal) });
}

export function useLogout() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: endpoints.logout,
    onSettled: () => {
      client.removeQueries({ predicate: (q) => q.queryKey[0] !== keys.me[0] });
      void client.invalidateQueries({ queryKey: keys.me });
    },
  });
}

export function useNodes() {
  return useQuery({
    queryKey: keys.nodes,
    queryFn: ({ signal }) => endpoints.listNodes({ limit: 200 }, signal),
    refetchInterval: POLL_MS,
  });
}

export function useWorkspaces() {
  return useQuery({
    queryKey: keys.workspaces,
    queryFn: ({ signal }) => endpoints.listWorkspaces({ limit: 200 }, signal),
    refetchInterval: POLL_MS,
  });
}

export function useActiveSessions() {
  return useQuery({
    queryKey: keys.activeSessions,
    queryFn: ({ signal }) =>
      endpoints.listSessions({ state: ACTIVE_SESSION_STATES, limit: 200 }, signal),
    refetchInterval: POLL_MS,
  });
}

export function useSession(id: string) {
  return useQuery({
    queryKey: keys.session(id),
    queryFn: ({ signal }) => endpoints.getSession(id, signal),
    refetchInterval: POLL_MS,
  });
}

export function usePermissionRequests() {
  return useQuery({
    queryKey: keys.permissionRequests,
    queryFn: ({ signal }) => endpoints.listPermissionRequests({ limit: 200 }, signal),
    refetchInterval: POLL_MS,
  });
}

export function useActivity(limit = 20) {
  return useQuery({
    queryKey: keys.activity(limit),
    queryFn: ({ signal }) => endpoints.listActivity({ limit }, signal),
    refetchInterval: POLL_MS,
  });
}

/** Every page of a list, fetched one `cursor` at a time as the user asks for more. */
function usePagedList<T>(
  queryKey: readonly unknown[],
  fetchPage: (
    page: endpoints.PageQuery,
    signal: AbortSignal,
  ) => Promise<{ items: T[]; next_cursor: string | null }>,
) {
  return useInfiniteQuery({
    queryKey,
    queryFn: ({ pageParam, signal }) => fetchPage({ cursor: pageParam, limit: 50 }, signal),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
    select: (data) => data.pages.flatMap((p) => p.items),
  });
}

export const useProjects = () => usePagedList(keys.projects, endpoints.listProjects);

export const useCredentials = () => usePagedList(keys.credentials, endpoints.listCredentials);

export function useAnswerPermission() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ requestId, optionId }: { requestId: string; optionId: string | null }) =>
      endpoints.answerPermission(requestId, optionId),
    onSettled: () => {
      void client.invalidateQueries({ queryKey: keys.permissionRequests });
      void client.invalidateQueries({ queryKey: ["sessions"] });
    },
  });
}

export function useSendPrompt(sessionId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (text: string) => endpoints.sendPrompt(sessionId, text),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.session(sessionId) }),
  });
}

export function useCancelSession(sessionId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => endpoints.cancelSession(sessionId),
    onSuccess: (session) => client.setQueryData(keys.session(sessionId), session),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.permissionRequests }),
  });
}
