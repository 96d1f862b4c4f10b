// react-query hooks for nodes, the providers that make them and what cloud nodes cost.

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, data } from "./client.ts";
import { fetchAllPages, type PageQuery } from "./paging.ts";
import { SECRET_MUTATION, keys, pollUnlessLive } from "./queries.ts";
import type { Node, NodeCreate, NodeTemplate } from "./types.ts";

/** How often a node being made or removed is read: its steps come seconds apart. */
export const SETTLING_POLL_MS = 1500;

/**
 * Whether a provider is making or removing `node`, which then moves on by itself. A manual
 * node waits in `pending` for someone to run its join command, which may be never.
 */
export function isSettling(node: Node): boolean {
  switch (node.state) {
    case "provisioning":
    case "joining":
    case "deleting":
      return true;
    case "pending":
      return node.provider !== "manual";
    default:
      return false;
  }
}

const listNodes = (page: PageQuery, signal?: AbortSignal) =>
  data(api.GET("/api/v1/nodes", { params: { query: page }, signal }));

/**
 * Every node (a picker's choices, and the names of workspaces' nodes). Read often while one is
 * being made or removed: its changes are told only to the user who added it, not to the owner
 * watching it, and it ends by leaving the list.
 */
export function useNodes() {
  return useQuery({
    queryKey: keys.nodes,
    queryFn: ({ signal }) => fetchAllPages(listNodes, signal),
    refetchInterval: (query) =>
      query.state.data?.some(isSettling) ? SETTLING_POLL_MS : pollUnlessLive(),
  });
}

export function useCreateNode() {
  const client = useQueryClient();
  return useMutation({
    ...SECRET_MUTATION,
    // A manual node's answer carries the single-use join token and command, shown once; a
    // provider's node is made in the background.
    mutationFn: (body: NodeCreate) => data(api.POST("/api/v1/nodes", { body })),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.nodes }),
  });
}

export function useReissueJoinToken() {
  const client = useQueryClient();
  return useMutation({
    ...SECRET_MUTATION,
    // For a node still `pending`: its earlier tokens stop working.
    mutationFn: (id: string) =>
      data(api.POST("/api/v1/nodes/{node}/join-token", { params: { path: { node: id } } })),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.nodes }),
  });
}

export function useDeleteNode() {
  const client = useQueryClient();
  return useMutation({
    // Answers the node: `deleted`, or `deleting` while its provider removes the machine.
    mutationFn: (id: string) =>
      data(api.DELETE("/api/v1/nodes/{node}", { params: { path: { node: id } } })),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.nodes }),
  });
}

/** The enabled providers; they change only with the control plane's settings. */
export function useProviders() {
  return useQuery({
    queryKey: keys.providers,
    queryFn: ({ signal }) => data(api.GET("/api/v1/providers", { signal })),
    staleTime: 5 * 60 * 1000,
  });
}

/**
 * The sizes (with prices) and regions `provider` offers, read with your `credential` (a name;
 * null for a provider that needs none); none asked for while `enabled` is false.
 */
export function useProviderOffer(provider: string, credential: string | null, enabled: boolean) {
  return useQuery({
    queryKey: keys.providerOffer(provider, credential),
    queryFn: ({ signal }) =>
      data(
        api.GET("/api/v1/providers/{provider}/offer", {
          params: { path: { provider }, query: { credential } },
          signal,
        }),
      ),
    enabled,
    staleTime: 5 * 60 * 1000,
  });
}

/** What cloud nodes cost this month: everyone's for the owner, your own for a member. It grows
 * by the hour, so it is read again every minute. */
export function useCosts() {
  return useQuery({
    queryKey: keys.costs,
    queryFn: ({ signal }) => data(api.GET("/api/v1/costs", { signal })),
    refetchInterval: 60 * 1000,
  });
}

/** Your default node: made when one of your workspaces finds no room; null when unset. */
export function useDefaultNode() {
  return useQuery({
    queryKey: keys.defaultNode,
    queryFn: ({ signal }) => data(api.GET("/api/v1/providers/default-node", { signal })),
  });
}

export function useSetDefaultNode() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: NodeTemplate) => data(api.PUT("/api/v1/providers/default-node", { body })),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.defaultNode }),
  });
}

export function useClearDefaultNode() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => data(api.DELETE("/api/v1/providers/default-node")),
    onSettled: () => void client.invalidateQueries({ queryKey: keys.defaultNode }),
  });
}
