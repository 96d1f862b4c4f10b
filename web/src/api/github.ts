// GitHub: whether it is set up, making the App (the owner), your linked GitHub account, and the
// repositories you may make projects from. Signing in and connecting GitHub are pages of the
// control plane (`/auth/github/login`), which the browser opens itself.

import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";

import { api, data } from "./client.ts";
import type { ManifestStart } from "./types.ts";

export const githubKeys = {
  status: ["github"] as const,
  repositories: ["github", "repositories"] as const,
};

/** Where "Connect GitHub" goes: GitHub, then back to Settings with the account linked. */
export const CONNECT_GITHUB_URL = "/auth/github/login?link=1";
/** Where "Sign in with GitHub" goes. */
export const SIGN_IN_WITH_GITHUB_URL = "/auth/github/login";

export function useGitHub() {
  return useQuery({
    queryKey: githubKeys.status,
    queryFn: ({ signal }) => data(api.GET("/api/v1/github", { signal })),
  });
}

/** Your repositories (the App's installations you may use); none asked for until `enabled`. */
export function useGitHubRepositories(enabled: boolean) {
  return useQuery({
    queryKey: githubKeys.repositories,
    queryFn: ({ signal }) => data(api.GET("/api/v1/github/repositories", { signal })),
    enabled,
  });
}

/**
 * Send the browser to GitHub with Corral's manifest: GitHub wants it posted as a form (a
 * top-level navigation, so GitHub's own sign-in and confirmation page show), not fetched.
 */
export function postManifest(start: ManifestStart, doc: Document = document) {
  const form = doc.createElement("form");
  form.method = "post";
  form.action = start.url;
  form.style.display = "none";
  const field = doc.createElement("input");
  field.type = "hidden";
  field.name = "manifest";
  field.value = JSON.stringify(start.manifest);
  form.appendChild(field);
  doc.body.appendChild(form);
  form.submit();
}

export function useCreateGitHubApp(submit: (start: ManifestStart) => void = postManifest) {
  return useMutation({
    mutationFn: (organization: string | null) =>
      data(
        api.POST("/api/v1/github/app/manifest", {
          body: organization ? { organization } : {},
        }),
      ),
    onSuccess: (start) => submit(start),
  });
}

export function useForgetGitHubApp() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => data(api.DELETE("/api/v1/github/app")),
    onSettled: () => void client.invalidateQueries({ queryKey: githubKeys.status }),
  });
}

export function useDisconnectGitHub() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => data(api.DELETE("/api/v1/github/account")),
    onSettled: () => void client.invalidateQueries({ queryKey: githubKeys.status }),
  });
}

/** Whether the signed-out screen may offer "Sign in with GitHub" (a page route, not the API). */
export function useGitHubSignInAvailable() {
  return useQuery({
    queryKey: ["github", "available"],
    queryFn: async ({ signal }) => {
      const response = await globalThis.fetch("/auth/github/available", { signal });
      if (!response.ok) return false;
      const body = (await response.json()) as { available?: boolean };
      return body.available === true;
    },
    retry: false,
  });
}
