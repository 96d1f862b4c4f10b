// A chat's pull request: read it, open or push to it, and send its failed check back to the
// agent. Kept apart from queries.ts, as the GitHub screens are.

import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, data, isApiError } from "./client.ts";
import type { components } from "./generated/openapi.ts";
import { keys } from "./queries.ts";

/** `GET /sessions/{id}/pull-request`: state and checks as GitHub's webhooks last told them. */
export type PullRequest = components["schemas"]["PullRequestPublic"];
/** `POST /sessions/{id}/pull-request`: the title (default: the chat's) and draft, used when a
 * pull request is opened; pushing to an open one uses the title as the commit message. */
export type PullRequestCreate = components["schemas"]["PullRequestCreate"];

/** Checks passing write no activity event, so no live notice comes for them: ask this often. */
export const PULL_REQUEST_POLL_MS = 30_000;

// Under `activity`: every change to a pull request but a passing check records an activity
// event, and the live connection's `activity` notice refetches it.
export const pullRequestKey = (sessionId: string) =>
  ["activity", "pull-request", sessionId] as const;

/** The chat's latest pull request; null when it has none yet (a 404, not an error). */
export function usePullRequest(sessionId: string, enabled = true) {
  return useQuery({
    queryKey: pullRequestKey(sessionId),
    queryFn: async ({ signal }): Promise<PullRequest | null> => {
      try {
        return await data(
          api.GET("/api/v1/sessions/{session}/pull-request", {
            params: { path: { session: sessionId } },
            signal,
          }),
        );
      } catch (error) {
        if (isApiError(error) && error.status === 404) return null;
        throw error;
      }
    },
    enabled,
    refetchInterval: PULL_REQUEST_POLL_MS,
  });
}

/** Commit what the agent left, push the chat's branch, and open or update its pull request
 * (this waits for `git push`: seconds, sometimes many). */
export function useOpenPullRequest(sessionId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: PullRequestCreate) =>
      data(
        api.POST("/api/v1/sessions/{session}/pull-request", {
          params: { path: { session: sessionId } },
          body,
        }),
      ),
    onSuccess: (pull) => client.setQueryData(pullRequestKey(sessionId), pull),
  });
}

/** Send the failed check to the chat as a prompt (queued behind a running turn). */
export function useFixPullRequest(sessionId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () =>
      data(
        api.POST("/api/v1/sessions/{session}/pull-request/fix", {
          params: { path: { session: sessionId } },
        }),
      ),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.session(sessionId) }),
  });
}

/** The pull requests a project's chats opened, newest first (refetched with the activity). */
export function useProjectPullRequests(projectId: string, enabled = true) {
  return useInfiniteQuery({
    enabled,
    queryKey: ["activity", "project-pull-requests", projectId] as const,
    queryFn: ({ pageParam, signal }) =>
      data(
        api.GET("/api/v1/projects/{project}/pull-requests", {
          params: { path: { project: projectId }, query: { cursor: pageParam, limit: 50 } },
          signal,
        }),
      ),
    initialPageParam: null as string | null,
    getNextPageParam: (last) => last.next_cursor,
    select: (data) => data.pages.flatMap((p) => p.items),
    refetchInterval: PULL_REQUEST_POLL_MS,
  });
}
